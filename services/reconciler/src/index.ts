/** @hwledger/reconciler: predicted-vs-actual reconciliation of jobs (docs/read-models.md, "job_reconciliation"). */
export { Reconciler, type ReconcilerOptions, type RunResult } from './reconciler.js';
