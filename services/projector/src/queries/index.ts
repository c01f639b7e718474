/** Query functions over the read models (docs/read-models.md "Query functions"). */
export { chainIdArg, keyArg, msArg, pageArg, MAX_PAGE, DEFAULT_PAGE, type Page, type PageRequest } from './args.js';
export { chainStatus, listChains, type ChainStatus } from './chain-status.js';
export { tenantSummary, listTenants, splitRange, type TenantSummary, type TenantSummaryRequest, type ReasonCount } from './tenant-summary.js';
export { costSummary, type CostSummary, type CostSummaryRequest } from './cost-summary.js';
export { dispatchHistory, type DispatchHistoryRequest, type DispatchRecord } from './dispatch-history.js';
export { auditTrail, type AuditEntry, type AuditTrailRequest } from './audit-trail.js';
export {
  evaluateJob,
  variancePct,
  RECONCILE_FLAGS,
  DEFAULT_RECONCILE_SETTINGS,
  type ReconcileFlag,
  type ReconcileSettings,
  type JobFacts,
  type JobReconciliation,
  type FlagDetail,
} from './reconcile-rules.js';
export { reconcileJob, chainTimeMs, reconcilerSettings, jobFactsFromRow, JOB_FACTS_SQL } from './reconcile-job.js';
export { listFlaggedJobs, fleetReconciliation, type FlaggedJob, type FlaggedJobsRequest, type FleetRow } from './flagged-jobs.js';
