/**
 * The query operations, independent of transport: the gRPC server and the
 * HTTP server both call these with an authenticated caller and a request
 * message, and answer with the same response message (query.proto). Every
 * request field is validated here (validate.ts) and every access rule applied
 * here (caller.ts), so the two transports cannot drift apart.
 */
import type pg from 'pg';
import { chainHash, ChainVerifier, constantTimeEqual, decodeRecord, fromHex, genesisHash, recordToJson, toHex, type VerifyFailure } from '@hwledger/chain';
import { HwlError, isHwlError, type Logger } from '@hwledger/core';
import {
  auditTrail,
  chainStatus,
  dispatchHistory,
  fleetReconciliation,
  listFlaggedJobs,
  reconcileJob,
  tenantSummary,
  type AuditEntry,
  type ChainStatus,
  type DispatchRecord,
  type FlaggedJob,
  type JobReconciliation,
} from '@hwledger/projector';
import { query as q } from '@hwledger/proto';
import { requireOperator, requireTenant, type Caller } from './caller.js';
import type { LedgerProofs } from './ledger-proofs.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { readKeyOwnership, readLinks } from './queries/audit-records.js';
import { readJobCost, readJobTenants } from './queries/jobs.js';
import { readArchivedPrefix, readRecordHash, readRecordRange } from './queries/record-range.js';
import { readTenants } from './queries/tenant-usage.js';
import { OPEN_END_MS, parseChainId, parseId, parsePageSize, parseRange, parseSequence, parseTenant, tenantName } from './validate.js';

/** VerifyRange re-verifies at most this many records per call (page through longer ranges). */
export const MAX_VERIFY_SPAN = 1_000_000n;

export interface LedgerQueryOptions {
  pool: pg.Pool;
  /** The chain a request without chain_id asks about. */
  chainId: string;
  logger: Logger;
  /** The chain stream's last sequence as NATS reports it (absent without NATS). */
  streamHead?: (chainId: string) => Promise<bigint | undefined>;
  /** Extra readiness checks (NATS): each returns "name: ok" or throws with the reason. */
  readinessChecks?: (() => Promise<string>)[];
  /** Checkpoints, proofs and the fleet anchor (absent without NATS: those operations answer FAILED_PRECONDITION). */
  proofs?: LedgerProofs;
}

export class LedgerQuery {
  private readonly pool: pg.Pool;
  readonly chainId: string;
  private readonly logger: Logger;

  constructor(private readonly opts: LedgerQueryOptions) {
    this.pool = opts.pool;
    this.chainId = opts.chainId;
    this.logger = opts.logger;
  }

  // ---- audit trail ----

  async getAuditTrail(caller: Caller, req: q.GetAuditTrailRequest): Promise<q.GetAuditTrailResponse> {
    const chainId = parseChainId(req.chainId, this.chainId);
    const key = parseId(req.key, 'key');
    const limit = parsePageSize(req.pageSize);
    const scope = `audit\u0000${chainId}\u0000${key}`;
    const cursor = decodePageToken(req.pageToken, scope, 1)?.[0];
    if (caller.role === 'tenant') {
      // Threat: a tenant reading another tenant's job/request trail, or a device's trail (all tenants' work on it).
      const owner = await readKeyOwnership(this.pool, chainId, key);
      if (owner.isDevice) throw new HwlError('PERMISSION_DENIED', 'device audit trails are available to operator keys only');
      if (owner.tenants.some((t) => t !== caller.tenant)) throw new HwlError('PERMISSION_DENIED', `the records of ${JSON.stringify(key)} belong to another tenant`);
    }
    const page = await auditTrail(this.pool, { key, chainId, page: { limit, ...(cursor !== undefined ? { cursor } : {}) } });
    if (caller.role === 'tenant') {
      // Again on what was read: records of another tenant (or the key as a device) projected after the ownership check.
      if (page.items.some((r) => r.tenant !== caller.tenant || r.matchedOn.includes('device_id'))) {
        throw new HwlError('PERMISSION_DENIED', `the records of ${JSON.stringify(key)} belong to another tenant`);
      }
    }
    if (page.items.length === 0 && cursor === undefined) throw new HwlError('NOT_FOUND', `no records with job, request or device id ${JSON.stringify(key)} on chain ${chainId}`);
    const status = await this.status(chainId);
    const verifiedSequence = status?.verifiedSequence ?? 0n;
    const neighbours = new Set<bigint>();
    for (const r of page.items) {
      if (r.sequence > 1n) neighbours.add(r.sequence - 1n);
      neighbours.add(r.sequence + 1n);
    }
    const links = await readLinks(this.pool, chainId, [...neighbours]);
    return {
      key,
      chainId,
      records: page.items.map((r) => auditRecord(chainId, r, links, verifiedSequence)),
      nextPageToken: page.nextCursor ? encodePageToken(scope, [page.nextCursor]) : '',
      verifiedSequence,
    };
  }

  /** The projector's chain status, or undefined before it projected anything. */
  private async status(chainId: string): Promise<ChainStatus | undefined> {
    try {
      return await chainStatus(this.pool, chainId);
    } catch (e) {
      if (isHwlError(e) && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }

  // ---- tenants ----

  async listTenants(caller: Caller, req: q.ListTenantsRequest): Promise<q.ListTenantsResponse> {
    const chainId = parseChainId(req.chainId, this.chainId);
    const limit = parsePageSize(req.pageSize);
    const scope = `tenants\u0000${chainId}`;
    const pos = decodePageToken(req.pageToken, scope, 1);
    const after = pos ? parseTenant(pos[0] ?? '', 'page_token') : undefined;
    const only = caller.role === 'tenant' ? caller.tenant : undefined;
    const rows = await readTenants(this.pool, { chainId, after, limit: limit + 1, ...(only !== undefined ? { only } : {}) });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      tenants: page.map(tenantName),
      nextPageToken: rows.length > limit && last !== undefined ? encodePageToken(scope, [tenantName(last)]) : '',
    };
  }

  async getTenantSummary(caller: Caller, req: q.GetTenantSummaryRequest): Promise<q.GetTenantSummaryResponse> {
    const chainId = parseChainId(req.chainId, this.chainId);
    const tenant = parseTenant(req.tenant);
    const range = parseRange(req.fromMs, req.toMs);
    requireTenant(caller, tenant, `tenant ${JSON.stringify(req.tenant)}`);
    // No upper bound: up to the last representable day (the rollups are keyed by window start).
    const u = await tenantSummary(this.pool, { chainId, tenant, fromMs: range.fromMs, toMs: range.toMs ?? OPEN_END_MS });
    return {
      tenant: tenantName(tenant),
      chainId,
      fromMs: u.fromMs,
      toMs: range.toMs === undefined ? 0n : u.toMs,
      tokens: u.requests.tokens + u.jobs.tokens,
      computeMs: u.requests.computeMs + u.jobs.durationMs,
      costMicroUsd: u.totalCostMicroUsd,
      priceBookVersions: u.priceBookVersions,
      byReason: u.byReason.map((r) => ({ reason: r.reason, requests: r.count, tokens: r.tokens, computeMs: r.computeMs })),
      requests: u.requests.count,
      requestTokens: u.requests.tokens,
      requestComputeMs: u.requests.computeMs,
      requestCostMicroUsd: u.requests.costMicroUsd,
      jobsCompleted: u.jobs.completed,
      jobsFailed: u.jobs.failed,
      jobTokens: u.jobs.tokens,
      jobDurationMs: u.jobs.durationMs,
      jobCostMicroUsd: u.jobs.ratedCostMicroUsd,
      unrated: u.requests.unrated + u.jobs.unrated,
    };
  }

  // ---- cost and dispatches (operator only: they mix every tenant's work on a device) ----

  async getCostSummary(caller: Caller, req: q.GetCostSummaryRequest): Promise<q.GetCostSummaryResponse> {
    const chainId = parseChainId(req.chainId, this.chainId);
    const deviceId = req.deviceId === '' ? undefined : parseId(req.deviceId, 'device_id');
    const range = parseRange(req.fromMs, req.toMs);
    requireOperator(caller, deviceId ? 'the cost of a device' : 'the fleet cost');
    const c = await readJobCost(this.pool, { chainId, deviceId, fromMs: range.fromMs, toMs: range.toMs });
    const rated = c.jobs - c.unratedJobs;
    const average = rated <= 0n ? 0n : (2n * c.totalCostMicroUsd + rated) / (2n * rated);
    return {
      chainId,
      deviceId: deviceId ?? '',
      fromMs: range.fromMs,
      toMs: range.toMs ?? 0n,
      jobs: c.jobs,
      totalCostMicroUsd: c.totalCostMicroUsd,
      averageCostPerJobMicroUsd: average,
      reportedCostMicroUsd: c.reportedCostMicroUsd,
      unratedJobs: c.unratedJobs,
      priceBookVersions: c.priceBookVersions,
    };
  }

  async getDispatchHistory(caller: Caller, req: q.GetDispatchHistoryRequest): Promise<q.GetDispatchHistoryResponse> {
    const chainId = parseChainId(req.chainId, this.chainId);
    const deviceId = parseId(req.deviceId, 'device_id');
    const limit = parsePageSize(req.pageSize);
    const scope = `dispatch\u0000${chainId}\u0000${deviceId}`;
    const cursor = decodePageToken(req.pageToken, scope, 1)?.[0];
    requireOperator(caller, 'dispatch history');
    const page = await dispatchHistory(this.pool, { chainId, deviceId, page: { limit, ...(cursor !== undefined ? { cursor } : {}) } });
    return {
      deviceId,
      dispatches: page.items.map((d) => dispatchRecord(deviceId, d)),
      nextPageToken: page.nextCursor ? encodePageToken(scope, [page.nextCursor]) : '',
    };
  }

  // ---- reconciliation ----

  async getReconciliation(caller: Caller, req: q.GetReconciliationRequest): Promise<q.GetReconciliationResponse> {
    const chainId = parseChainId(req.chainId, this.chainId);
    const jobId = parseId(req.jobId, 'job_id');
    const tenants = await readJobTenants(this.pool, chainId, jobId);
    if (tenants === undefined) throw new HwlError('NOT_FOUND', `job ${JSON.stringify(jobId)} is not on chain ${chainId}`);
    if (caller.role === 'tenant') {
      // Threat: a tenant reading another tenant's job. A job no record attributes to a tenant is operator only.
      if (tenants.length === 0 || tenants.some((t) => t !== caller.tenant)) throw new HwlError('PERMISSION_DENIED', `job ${JSON.stringify(jobId)} belongs to another tenant`);
    }
    const r = await reconcileJob(this.pool, chainId, jobId);
    if (caller.role === 'tenant') {
      // Again after the report was read: another tenant's completion or failure of this job id
      // projected after the check above is in the report. Tenants only grow, so a later read
      // without another tenant means the report has none either.
      const now = (await readJobTenants(this.pool, chainId, jobId)) ?? [];
      if (now.some((t) => t !== caller.tenant)) throw new HwlError('PERMISSION_DENIED', `job ${JSON.stringify(jobId)} belongs to another tenant`);
    }
    return { report: reconciliationReport(r, tenants[0] ?? '') };
  }

  async listFlaggedJobs(caller: Caller, req: q.ListFlaggedJobsRequest): Promise<q.ListFlaggedJobsResponse> {
    const chainId = parseChainId(req.chainId, this.chainId);
    const flag = req.flag === '' ? undefined : req.flag;
    const limit = parsePageSize(req.pageSize);
    const scope = `flags\u0000${chainId}\u0000${flag ?? ''}`;
    const cursor = decodePageToken(req.pageToken, scope, 1)?.[0];
    requireOperator(caller, 'the fleet list of flagged jobs');
    const page = await listFlaggedJobs(this.pool, { chainId, flag, page: { limit, ...(cursor !== undefined ? { cursor } : {}) } });
    return {
      jobs: page.items.map(flaggedJob),
      nextPageToken: page.nextCursor ? encodePageToken(scope, [page.nextCursor]) : '',
    };
  }

  async getFleetReconciliation(caller: Caller, req: q.GetFleetReconciliationRequest): Promise<q.GetFleetReconciliationResponse> {
    const chainId = parseChainId(req.chainId, this.chainId);
    requireOperator(caller, 'the fleet reconciliation');
    const rows = await fleetReconciliation(this.pool, { chainId });
    return {
      rows: rows.map((r) => ({
        deviceType: r.deviceType ?? '',
        modelId: r.modelId ?? '',
        jobs: r.jobs,
        predictedVramMib: r.predictedVramMib,
        actualVramMib: r.actualVramMib,
        predictedCostMicroUsd: r.predictedCostMicroUsd,
        actualCostMicroUsd: r.actualCostMicroUsd,
        flaggedJobs: r.flaggedJobs,
        pairedJobs: r.pairedJobs,
        ratedCostMicroUsd: r.ratedCostMicroUsd,
      })),
    };
  }

  // ---- chain ----

  async getChainStatus(_caller: Caller, req: q.GetChainStatusRequest): Promise<q.GetChainStatusResponse> {
    const chainId = parseChainId(req.chainId, this.chainId);
    const [s, streamSequence] = await Promise.all([this.status(chainId), this.streamHead(chainId)]);
    const broken = s?.status === 'broken';
    return {
      chainId,
      headSequence: s?.headSequence ?? 0n,
      projectedSequence: s?.verifiedSequence ?? 0n,
      projectedHash: s?.verifiedHash ?? '',
      status: s ? s.status : 'unknown',
      firstBadSequence: broken ? (s.brokenSequence ?? undefined) : undefined,
      reason: broken ? (s.brokenReason ?? '') : '',
      message: broken ? (s.brokenMessage ?? '') : '',
      streamSequence,
      updatedAtMs: s ? BigInt(s.updatedAt.getTime()) : 0n,
      lagRecords: s?.lagRecords ?? 0n,
      projectedSealedAtMs: s?.verifiedSealedAtMs ?? 0n,
    };
  }

  private async streamHead(chainId: string): Promise<bigint | undefined> {
    if (!this.opts.streamHead) return undefined;
    try {
      return await this.opts.streamHead(chainId);
    } catch (e) {
      this.logger.debug({ err: e, chainId }, 'stream head unavailable');
      return undefined;
    }
  }

  /**
   * Re-verifies records from..to as stored in Postgres, from their canonical
   * bytes, anchored at the stored hash of from - 1 (genesis for 1). Catches a
   * records row altered after projection (canonical, hash or prev_hash) and a
   * deleted row. Threat: someone with database access rewriting history that
   * the API then serves as verified.
   *
   * After `hwledger archive --db` (archived_prefixes) the records up to the
   * cut are gone from the database: the default `from` is the first record
   * after the cut, anchored at the cut's head hash (verified against a
   * signed checkpoint when it was archived); a range reaching into the
   * archived records is FAILED_PRECONDITION, naming the cut (they verify
   * with `hwledger verify --archive`). Before, the default range answered
   * `gap` at record 1, which an auditor could not tell from deleted rows.
   */
  async verifyRange(_caller: Caller, req: q.VerifyRangeRequest): Promise<q.VerifyRangeResponse> {
    const chainId = parseChainId(req.chainId, this.chainId);
    const fromReq = parseSequence(req.from, 'from');
    const toReq = parseSequence(req.to, 'to');
    const s = await this.status(chainId);
    const projected = s?.verifiedSequence ?? 0n;
    if (projected === 0n) throw new HwlError('NOT_FOUND', `nothing is projected for chain ${chainId} yet`);
    const archived = await readArchivedPrefix(this.pool, chainId);
    const firstStored = archived ? archived.sequence + 1n : 1n;
    const from = fromReq === 0n ? firstStored : fromReq;
    if (from < firstStored) {
      throw new HwlError(
        'FAILED_PRECONDITION',
        `records 1..${archived!.sequence} of chain ${chainId} were archived (hwledger archive --db) and are no longer in the database: verify them with hwledger verify --archive; the stored records start at ${firstStored}`,
      );
    }
    if (fromReq === 0n && from > projected) throw new HwlError('NOT_FOUND', `every projected record of chain ${chainId} (up to ${projected}) is archived (the cut is at ${from - 1n})`);
    const to = toReq === 0n ? projected : toReq;
    if (to < from) throw new HwlError('INVALID_ARGUMENT', `to (${to}) must not be below from (${from})`);
    if (to > projected) throw new HwlError('INVALID_ARGUMENT', `to (${to}) is past the projected sequence ${projected}`);
    if (to - from + 1n > MAX_VERIFY_SPAN) throw new HwlError('INVALID_ARGUMENT', `at most ${MAX_VERIFY_SPAN} records per call: verify ${from}..${from + MAX_VERIFY_SPAN - 1n}, then continue`);
    const base = { chainId, from, to };
    const anchorHash = from === 1n ? genesisHash(chainId) : archived && from - 1n === archived.sequence ? archived.hash : await readRecordHash(this.pool, chainId, from - 1n);
    if (!anchorHash) {
      return { ...base, ok: false, verified: 0n, firstBadSequence: from - 1n, reason: 'gap', message: `record ${from - 1n} (the anchor) is not stored`, anchorHash: '', headHash: '' };
    }
    const v = new ChainVerifier({ chainId, sequence: from - 1n, hash: anchorHash });
    for await (const r of readRecordRange(this.pool, chainId, from, to)) {
      if (v.push({ canonical: r.canonical, hash: r.hash, prevHash: r.prevHash, sequence: r.sequence, chainId })) break;
    }
    let failure: VerifyFailure | undefined = v.failed;
    if (!failure && v.head.sequence < to) {
      failure = { ok: false, sequence: v.head.sequence + 1n, reason: 'gap', message: `record ${v.head.sequence + 1n} is not stored`, verified: v.verified };
    }
    return {
      ...base,
      ok: failure === undefined,
      verified: BigInt(v.verified),
      firstBadSequence: failure?.sequence,
      reason: failure?.reason ?? '',
      message: failure?.message ?? '',
      anchorHash: toHex(anchorHash),
      headHash: toHex(v.head.hash),
    };
  }

  // ---- checkpoints and proofs (ledger-proofs.ts) ----

  private proofs(): LedgerProofs {
    if (!this.opts.proofs) throw new HwlError('FAILED_PRECONDITION', 'checkpoints and proofs need NATS: this API was started without it (--nats)');
    return this.opts.proofs;
  }

  async getCheckpoints(caller: Caller, req: q.GetCheckpointsRequest): Promise<q.GetCheckpointsResponse> {
    return this.proofs().getCheckpoints(caller, req);
  }

  async getInclusionProof(caller: Caller, req: q.GetInclusionProofRequest): Promise<q.GetInclusionProofResponse> {
    return this.proofs().getInclusionProof(caller, req);
  }

  async getConsistencyProof(caller: Caller, req: q.GetConsistencyProofRequest): Promise<q.GetConsistencyProofResponse> {
    return this.proofs().getConsistencyProof(caller, req);
  }

  async getFleetStatus(caller: Caller, req: q.GetFleetStatusRequest): Promise<q.GetFleetStatusResponse> {
    return this.proofs().getFleetStatus(caller, req);
  }

  // ---- probes ----

  health(): q.HealthResponse {
    return { status: 'ok' };
  }

  async ready(): Promise<q.ReadyResponse> {
    const checks: string[] = [];
    let ready = true;
    try {
      const r = await this.pool.query<{ v: number }>(
        `SELECT CASE WHEN to_regclass('hwl_schema_migrations') IS NULL THEN 0 ELSE (SELECT coalesce(max(version), 0) FROM hwl_schema_migrations) END AS v`,
      );
      const v = Number(r.rows[0]?.v ?? 0);
      if (v > 0) checks.push(`postgres: ok (schema ${v})`);
      else {
        ready = false;
        checks.push('postgres: not migrated');
      }
    } catch (e) {
      ready = false;
      // The driver's text can name hosts and users: it goes to the log, not to this unauthenticated endpoint.
      this.logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'readiness: postgres unreachable');
      checks.push('postgres: unreachable');
    }
    for (const check of this.opts.readinessChecks ?? []) {
      try {
        checks.push(await check());
      } catch (e) {
        ready = false;
        checks.push(e instanceof Error ? e.message : String(e));
      }
    }
    return { ready, checks };
  }
}

function auditRecord(chainId: string, r: AuditEntry, links: Map<bigint, { prevHash: Uint8Array; hash: Uint8Array }>, verifiedSequence: bigint): q.AuditRecord {
  const prevHash = fromHex(r.prevHash);
  const hash = fromHex(r.hash);
  const canonical = fromHex(r.canonical);
  const recomputed = chainHash(prevHash, canonical);
  const hashOk = constantTimeEqual(recomputed, hash);
  const expectedPrev = r.sequence === 1n ? genesisHash(chainId) : links.get(r.sequence - 1n)?.hash;
  const next = links.get(r.sequence + 1n);
  const prevOk = expectedPrev !== undefined && constantTimeEqual(expectedPrev, prevHash);
  // A missing successor is fine past the verified prefix (the head); inside it, it means a deleted row.
  const nextOk = next ? constantTimeEqual(next.prevHash, hash) : r.sequence + 1n > verifiedSequence;
  let decoded: { [key: string]: unknown } | undefined;
  let decodes = false;
  try {
    const rec = decodeRecord(canonical);
    decoded = recordToJson(rec) as unknown as { [key: string]: unknown };
    decodes = rec.chainId === chainId && rec.sequence === r.sequence;
  } catch {
    decoded = undefined;
  }
  const withinVerifiedPrefix = r.sequence <= verifiedSequence;
  const linkOk = prevOk && nextOk;
  return {
    chainId,
    sequence: r.sequence,
    kind: r.kind,
    tenant: tenantName(r.tenant),
    instanceId: r.instanceId,
    source: r.source,
    eventId: r.eventId,
    observedAtMs: r.observedAtMs,
    sealedAtMs: r.sealedAtMs,
    prevHash: r.prevHash,
    hash: r.hash,
    canonical: r.canonical,
    decoded,
    verification: {
      recomputedHash: toHex(recomputed),
      hashOk,
      withinVerifiedPrefix,
      linkOk,
      decodes,
      verified: hashOk && linkOk && decodes && withinVerifiedPrefix,
    },
  };
}

function dispatchRecord(deviceId: string, d: DispatchRecord): q.DispatchRecord {
  return {
    jobId: d.jobId,
    deviceId,
    modelId: d.modelId ?? '',
    tenant: tenantName(d.tenant ?? ''),
    status: d.status,
    dispatchSequence: d.dispatchSequence,
    dispatchedAtMs: d.dispatchedAtMs,
    completedAtMs: d.completedAtMs ?? 0n,
    failedAtMs: d.failedAtMs ?? 0n,
    vramRequestedMib: d.vramRequestedMib ?? 0n,
    predictedCostMicroUsd: d.predictedCostMicroUsd ?? 0n,
    actualVramMib: d.actualVramMib ?? 0n,
    tokensGenerated: d.tokensGenerated ?? 0n,
    durationMs: d.durationMs ?? 0n,
    reportedCostMicroUsd: d.reportedCostMicroUsd ?? 0n,
    ratedCostMicroUsd: d.ratedCostMicroUsd ?? 0n,
    priceBookVersion: d.priceBookVersion ?? 0,
    errorMessage: d.errorMessage ?? '',
  };
}

const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

function reconciliationReport(r: JobReconciliation, tenant: string): q.ReconciliationReport {
  return {
    jobId: r.jobId,
    status: r.status,
    deviceId: r.deviceId ?? '',
    deviceType: r.deviceType ?? '',
    modelId: r.modelId ?? '',
    tenant: tenantName(tenant),
    predictedVramMib: opt(r.vramRequestedMib),
    actualVramMib: opt(r.actualVramMib),
    vramVariancePct: opt(r.vramVariancePct),
    predictedCostMicroUsd: opt(r.predictedCostMicroUsd),
    actualCostMicroUsd: opt(r.reportedCostMicroUsd),
    costVariancePct: opt(r.costVariancePct),
    ratedCostMicroUsd: opt(r.ratedCostMicroUsd),
    priceBookVersion: r.priceBookVersion ?? 0,
    telemetryMaxVramMib: opt(r.telemetryMaxVramMib),
    flags: r.flags.map((f) => ({ flag: f.flag, detail: f.detail })),
    chainTimeMs: r.chainTimeMs,
    dispatchCount: r.dispatchCount,
    completionCount: r.completionCount,
    failureCount: r.failureCount,
  };
}

function flaggedJob(f: FlaggedJob): q.FlaggedJob {
  return {
    jobId: f.jobId,
    status: f.status,
    deviceId: f.deviceId ?? '',
    deviceType: f.deviceType ?? '',
    modelId: f.modelId ?? '',
    vramVariancePct: opt(f.vramVariancePct),
    costVariancePct: opt(f.costVariancePct),
    flags: f.flags.map((x) => ({ flag: x.flag, detail: x.detail })),
    chainTimeMs: f.chainTimeMs,
  };
}
