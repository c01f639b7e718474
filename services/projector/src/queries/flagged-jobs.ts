/**
 * The fleet's flagged jobs and the predicted-vs-actual fleet view, as the
 * reconciler last materialized them (job_reconciliation, reconciliation_flags).
 */
import type pg from 'pg';
import { HwlError } from '@hwledger/core';
import { chainIdArg, decodeCursor, encodeCursor, keyArg, pageArg, type Page, type PageRequest } from './args.js';
import { RECONCILE_FLAGS, type FlagDetail, type ReconcileFlag } from './reconcile-rules.js';

export interface FlaggedJob {
  chainId: string;
  jobId: string;
  status: string;
  deviceId: string | null;
  deviceType: string | null;
  modelId: string | null;
  vramVariancePct: number | null;
  costVariancePct: number | null;
  flags: FlagDetail[];
  chainTimeMs: bigint;
}

export interface FlaggedJobsRequest {
  chainId: string;
  /** Only jobs with this flag. */
  flag?: string | undefined;
  page?: PageRequest;
}

const num = (v: string | null): number | null => (v === null ? null : Number(v));

export async function listFlaggedJobs(pool: pg.Pool, req: FlaggedJobsRequest): Promise<Page<FlaggedJob>> {
  const chainId = chainIdArg(req.chainId);
  if (req.flag !== undefined && !RECONCILE_FLAGS.includes(req.flag as ReconcileFlag)) {
    throw new HwlError('INVALID_ARGUMENT', `flag must be one of ${RECONCILE_FLAGS.join(', ')}`);
  }
  const { limit, cursor } = pageArg(req.page);
  const after = cursor === undefined ? null : keyArg(decodeCursor(cursor, 1)[0], 'cursor');
  const r = await pool.query<Record<string, string | null>>(
    `SELECT job_id, status, device_id, device_type, model_id, vram_variance_pct, cost_variance_pct, chain_time_ms
       FROM job_reconciliation
      WHERE chain_id = $1 AND cardinality(flags) > 0 AND ($2::text IS NULL OR $2 = ANY(flags)) AND ($3::text IS NULL OR job_id > $3)
      ORDER BY job_id LIMIT $4`,
    [chainId, req.flag ?? null, after, limit + 1],
  );
  const rows = r.rows.slice(0, limit);
  const ids = rows.map((x) => x['job_id']!);
  const details = new Map<string, FlagDetail[]>();
  if (ids.length > 0) {
    const f = await pool.query<{
      job_id: string;
      flag: ReconcileFlag;
      detail: string;
    }>('SELECT job_id, flag, detail FROM reconciliation_flags WHERE chain_id = $1 AND job_id = ANY($2::text[]) ORDER BY job_id, flag', [chainId, ids]);
    for (const x of f.rows) {
      const list = details.get(x.job_id) ?? [];
      list.push({ flag: x.flag, detail: x.detail });
      details.set(x.job_id, list);
    }
  }
  const items = rows.map((x): FlaggedJob => ({
    chainId,
    jobId: x['job_id']!,
    status: x['status']!,
    deviceId: x['device_id'] ?? null,
    deviceType: x['device_type'] ?? null,
    modelId: x['model_id'] ?? null,
    vramVariancePct: num(x['vram_variance_pct'] ?? null),
    costVariancePct: num(x['cost_variance_pct'] ?? null),
    flags: details.get(x['job_id']!) ?? [],
    chainTimeMs: BigInt(x['chain_time_ms']!),
  }));
  const page: Page<FlaggedJob> = { items };
  if (r.rows.length > limit && rows.length > 0) page.nextCursor = encodeCursor([rows[rows.length - 1]!['job_id']!]);
  return page;
}

export interface FleetRow {
  deviceType: string | null;
  modelId: string | null;
  jobs: bigint;
  /** Jobs with both a dispatch and a completion (the pairs the totals below sum). */
  pairedJobs: bigint;
  predictedVramMib: bigint;
  actualVramMib: bigint;
  predictedCostMicroUsd: bigint;
  actualCostMicroUsd: bigint;
  ratedCostMicroUsd: bigint;
  flaggedJobs: bigint;
}

/** Predicted against actual totals per device type and model (paired jobs only), flagged counts per group. */
export async function fleetReconciliation(pool: pg.Pool, req: { chainId: string }): Promise<FleetRow[]> {
  const chainId = chainIdArg(req.chainId);
  const r = await pool.query<Record<string, string | null>>(
    `SELECT device_type, model_id, count(*) AS jobs,
            count(*) FILTER (WHERE paired) AS paired,
            coalesce(sum(predicted_vram_mib) FILTER (WHERE paired), 0) AS pv, coalesce(sum(actual_vram_mib) FILTER (WHERE paired), 0) AS av,
            coalesce(sum(predicted_cost_micro_usd) FILTER (WHERE paired), 0) AS pc, coalesce(sum(actual_cost_micro_usd) FILTER (WHERE paired), 0) AS ac,
            coalesce(sum(rated_cost_micro_usd) FILTER (WHERE paired), 0) AS rc,
            count(*) FILTER (WHERE cardinality(flags) > 0) AS flagged
       FROM (SELECT *, (predicted_vram_mib IS NOT NULL AND actual_vram_mib IS NOT NULL) AS paired FROM job_reconciliation WHERE chain_id = $1) x
      GROUP BY device_type, model_id ORDER BY device_type NULLS LAST, model_id NULLS LAST`,
    [chainId],
  );
  return r.rows.map((x) => ({
    deviceType: x['device_type'] ?? null,
    modelId: x['model_id'] ?? null,
    jobs: BigInt(x['jobs']!),
    pairedJobs: BigInt(x['paired']!),
    predictedVramMib: BigInt(x['pv']!),
    actualVramMib: BigInt(x['av']!),
    predictedCostMicroUsd: BigInt(x['pc']!),
    actualCostMicroUsd: BigInt(x['ac']!),
    ratedCostMicroUsd: BigInt(x['rc']!),
    flaggedJobs: BigInt(x['flagged']!),
  }));
}
