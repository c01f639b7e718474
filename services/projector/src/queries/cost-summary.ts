/**
 * Cost summary (seed 000 get_cost_summary): completed jobs, total cost and
 * average per job, both as the producers reported it and as rated by the
 * price books. Fleet-wide it is served from the daily tenant rollups; for a
 * device, from that device's jobs (index jobs_device).
 */
import type pg from 'pg';
import { chainIdArg, keyArg } from './args.js';

export interface CostSummaryRequest {
  chainId: string;
  deviceId?: string | undefined;
}

export interface CostSummary {
  chainId: string;
  deviceId?: string;
  jobsCompleted: bigint;
  jobsFailed: bigint;
  reportedCostMicroUsd: bigint;
  ratedCostMicroUsd: bigint;
  /** Rounded half-up; 0 when no job completed. */
  avgReportedCostMicroUsd: bigint;
  avgRatedCostMicroUsd: bigint;
  /** Completed jobs with no price book in effect (not in ratedCostMicroUsd). */
  unratedJobs: bigint;
  priceBookVersions: number[];
}

const avg = (total: bigint, n: bigint): bigint => (n === 0n ? 0n : (2n * total + n) / (2n * n));
const versions = (s: string | null): number[] =>
  (s ?? '{}')
    .replace(/[{}]/g, '')
    .split(',')
    .filter((x) => x !== '')
    .map(Number);

export async function costSummary(pool: pg.Pool, req: CostSummaryRequest): Promise<CostSummary> {
  const chainId = chainIdArg(req.chainId);
  const deviceId = req.deviceId === undefined ? undefined : keyArg(req.deviceId, 'device_id');
  let row: Record<string, string | null> | undefined;
  if (deviceId === undefined) {
    const r = await pool.query<Record<string, string | null>>(
      `SELECT coalesce(sum(jobs_completed), 0) AS completed, coalesce(sum(jobs_failed), 0) AS failed,
              coalesce(sum(job_reported_cost_micro_usd), 0) AS reported, coalesce(sum(job_rated_cost_micro_usd), 0) AS rated,
              coalesce(sum(unrated_job_count), 0) AS unrated,
              (SELECT coalesce(array_agg(DISTINCT v ORDER BY v), '{}') FROM tenant_usage_daily d2, unnest(d2.price_book_versions) v
                WHERE d2.chain_id = $1 AND d2.jobs_completed > 0)::text AS versions
         FROM tenant_usage_daily WHERE chain_id = $1`,
      [chainId],
    );
    row = r.rows[0];
  } else {
    const r = await pool.query<Record<string, string | null>>(
      `SELECT count(*) FILTER (WHERE completion_sequence IS NOT NULL) AS completed,
              count(*) FILTER (WHERE failure_sequence IS NOT NULL) AS failed,
              coalesce(sum(reported_cost_micro_usd), 0) AS reported, coalesce(sum(rated_cost_micro_usd), 0) AS rated,
              count(*) FILTER (WHERE completion_sequence IS NOT NULL AND price_book_version IS NULL) AS unrated,
              coalesce(array_agg(DISTINCT price_book_version ORDER BY price_book_version) FILTER (WHERE price_book_version IS NOT NULL), '{}')::text AS versions
         FROM jobs WHERE chain_id = $1 AND device_id = $2`,
      [chainId, deviceId],
    );
    row = r.rows[0];
  }
  const b = (k: string): bigint => BigInt(row?.[k] ?? '0');
  const completed = b('completed');
  const out: CostSummary = {
    chainId,
    jobsCompleted: completed,
    jobsFailed: b('failed'),
    reportedCostMicroUsd: b('reported'),
    ratedCostMicroUsd: b('rated'),
    avgReportedCostMicroUsd: avg(b('reported'), completed),
    avgRatedCostMicroUsd: avg(b('rated'), completed - b('unrated')),
    unratedJobs: b('unrated'),
    priceBookVersions: versions(row?.['versions'] ?? null),
  };
  if (deviceId !== undefined) out.deviceId = deviceId;
  return out;
}
