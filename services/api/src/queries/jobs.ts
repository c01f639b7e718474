/**
 * Reads over `jobs` (docs/read-models.md "jobs") that the projector's query
 * functions do not offer: the cost of jobs completed in a time range
 * (costSummary has no range), and the tenants a job's records name (the
 * tenant access rule). Cost is the rated cost (price book at aggregation
 * time); the producers' own cost is reported beside it, never mixed in.
 */
import type pg from 'pg';
import { big } from './pg-values.js';

export interface JobCost {
  jobs: bigint;
  totalCostMicroUsd: bigint;
  reportedCostMicroUsd: bigint;
  unratedJobs: bigint;
  priceBookVersions: number[];
}

export async function readJobCost(db: pg.Pool, q: { chainId: string; deviceId: string | undefined; fromMs: bigint; toMs: bigint | undefined }): Promise<JobCost> {
  const r = await db.query<{ jobs: string; total: string; reported: string; unrated: string; versions: number[] | null }>(
    `SELECT count(*) AS jobs,
            coalesce(sum(rated_cost_micro_usd), 0) AS total,
            coalesce(sum(reported_cost_micro_usd), 0) AS reported,
            count(*) FILTER (WHERE rated_cost_micro_usd IS NULL) AS unrated,
            array_agg(DISTINCT price_book_version ORDER BY price_book_version) FILTER (WHERE price_book_version IS NOT NULL) AS versions
       FROM jobs
      WHERE chain_id = $1 AND completion_sequence IS NOT NULL
        AND completed_at_ms >= $2 AND ($3::bigint IS NULL OR completed_at_ms < $3)
        AND ($4::text IS NULL OR device_id = $4)`,
    [q.chainId, q.fromMs.toString(), q.toMs?.toString() ?? null, q.deviceId ?? null],
  );
  const row = r.rows[0];
  return {
    jobs: big(row?.jobs),
    totalCostMicroUsd: big(row?.total),
    reportedCostMicroUsd: big(row?.reported),
    unratedJobs: big(row?.unrated),
    priceBookVersions: (row?.versions ?? []).map(Number),
  };
}

/**
 * The tenants a job's records name (its dispatch, completion and failure
 * tenants, without duplicates; '' for a record without tenant), or
 * undefined when the chain has no such job.
 */
export async function readJobTenants(db: pg.Pool, chainId: string, jobId: string): Promise<string[] | undefined> {
  const r = await db.query<{ dispatch_tenant: string | null; completion_tenant: string | null; failure_tenant: string | null }>(
    'SELECT dispatch_tenant, completion_tenant, failure_tenant FROM jobs WHERE chain_id = $1 AND job_id = $2',
    [chainId, jobId],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return [...new Set([row.dispatch_tenant, row.completion_tenant, row.failure_tenant].filter((t): t is string => t !== null))];
}
