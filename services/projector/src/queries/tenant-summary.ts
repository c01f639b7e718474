/**
 * Tenant summary over a time range, served from rollups only (seed 003
 * "Query the chain per tenant"): whole days from the daily rollups, the
 * partial days at either end from the hourly ones, so the cost is
 * O(days + 48) rows whatever the number of records. The range is widened to
 * whole hours; the answer says which range it covers.
 */
import type pg from 'pg';
import { HwlError } from '@hwledger/core';
import { DAY_MS, HOUR_MS } from '../windows.js';
import { chainIdArg, keyArg, msArg } from './args.js';

export interface TenantSummaryRequest {
  chainId: string;
  tenant: string;
  fromMs: bigint | number | string;
  toMs: bigint | number | string;
}

export interface ReasonCount {
  reason: string;
  count: bigint;
  tokens: bigint;
  computeMs: bigint;
}

export interface TenantSummary {
  chainId: string;
  tenant: string;
  /** Range actually summarized: [fromMs, toMs), whole hours of chain time. */
  fromMs: bigint;
  toMs: bigint;
  requests: {
    count: bigint;
    tokens: bigint;
    computeMs: bigint;
    costMicroUsd: bigint;
    unrated: bigint;
  };
  byReason: ReasonCount[];
  jobs: {
    completed: bigint;
    failed: bigint;
    tokens: bigint;
    durationMs: bigint;
    reportedCostMicroUsd: bigint;
    ratedCostMicroUsd: bigint;
    unrated: bigint;
  };
  /** requests.costMicroUsd + jobs.ratedCostMicroUsd. */
  totalCostMicroUsd: bigint;
  /** The price book versions that produced these costs. */
  priceBookVersions: number[];
}

const I64_MAX = 2n ** 63n - 1n;
const ceilTo = (v: bigint, unit: bigint): bigint => ((v + unit - 1n) / unit) * unit;
const floorTo = (v: bigint, unit: bigint): bigint => (v / unit) * unit;

/** Splits [from, to) (hour-aligned) into hourly head, daily middle, hourly tail. */
export function splitRange(from: bigint, to: bigint): { hourly: [bigint, bigint][]; daily: [bigint, bigint] | undefined } {
  const d0 = ceilTo(from, DAY_MS);
  const d1 = floorTo(to, DAY_MS);
  if (d0 >= d1) return { hourly: [[from, to]], daily: undefined };
  const hourly: [bigint, bigint][] = [];
  if (from < d0) hourly.push([from, d0]);
  if (d1 < to) hourly.push([d1, to]);
  return { hourly, daily: [d0, d1] };
}

export async function tenantSummary(pool: pg.Pool, req: TenantSummaryRequest): Promise<TenantSummary> {
  const chainId = chainIdArg(req.chainId);
  const tenant = keyArg(req.tenant, 'tenant', true);
  const fromReq = msArg(req.fromMs, 'from_ms');
  const toReq = msArg(req.toMs, 'to_ms');
  if (toReq <= fromReq) throw new HwlError('INVALID_ARGUMENT', 'to_ms must be greater than from_ms');
  const from = floorTo(fromReq, HOUR_MS);
  const to = ceilTo(toReq, HOUR_MS);
  const { hourly, daily } = splitRange(from, to);
  const ranges: { table: 'hourly' | 'daily'; from: bigint; to: bigint }[] = hourly.map(([a, b]) => ({ table: 'hourly' as const, from: a, to: b }));
  if (daily) ranges.push({ table: 'daily', from: daily[0], to: daily[1] });

  const usageParts = ranges.map(
    (r, i) =>
      `SELECT * FROM tenant_usage_${r.table} WHERE chain_id = $1 AND tenant = $2 AND window_start_ms >= $${3 + 2 * i} AND window_start_ms < $${4 + 2 * i}`,
  );
  const reasonParts = ranges.map(
    (r, i) =>
      `SELECT * FROM tenant_reason_${r.table} WHERE chain_id = $1 AND tenant = $2 AND window_start_ms >= $${3 + 2 * i} AND window_start_ms < $${4 + 2 * i}`,
  );
  // Window starts are bigint (i64): a bound widened past 2^63-1 (to_ms near the maximum msArg accepts)
  // is passed as 2^63-1, which excludes no window (every window starts at or below it).
  const bound = (v: bigint): string => (v > I64_MAX ? I64_MAX : v).toString();
  const params = [chainId, tenant, ...ranges.flatMap((r) => [bound(r.from), bound(r.to)])];
  const u = await pool.query<Record<string, string | null>>(
    `WITH u AS (${usageParts.join(' UNION ALL ')})
     SELECT coalesce(sum(request_count), 0) AS request_count, coalesce(sum(request_tokens), 0) AS request_tokens,
            coalesce(sum(request_compute_ms), 0) AS request_compute_ms, coalesce(sum(request_cost_micro_usd), 0) AS request_cost,
            coalesce(sum(unrated_request_count), 0) AS unrated_requests, coalesce(sum(jobs_completed), 0) AS jobs_completed,
            coalesce(sum(jobs_failed), 0) AS jobs_failed, coalesce(sum(job_tokens), 0) AS job_tokens,
            coalesce(sum(job_duration_ms), 0) AS job_duration_ms, coalesce(sum(job_reported_cost_micro_usd), 0) AS job_reported,
            coalesce(sum(job_rated_cost_micro_usd), 0) AS job_rated, coalesce(sum(unrated_job_count), 0) AS unrated_jobs,
            (SELECT coalesce(array_agg(DISTINCT v ORDER BY v), '{}') FROM u, unnest(u.price_book_versions) AS v)::text AS versions
       FROM u`,
    params,
  );
  const reasons = await pool.query<{
    reason: string;
    n: string;
    tokens: string;
    compute_ms: string;
  }>(
    `SELECT reason, sum(request_count) AS n, sum(tokens) AS tokens, sum(compute_ms) AS compute_ms
       FROM (${reasonParts.join(' UNION ALL ')}) r GROUP BY reason ORDER BY reason`,
    params,
  );
  const row = u.rows[0] ?? {};
  const b = (k: string): bigint => BigInt(row[k] ?? '0');
  const versions = String(row['versions'] ?? '{}')
    .replace(/[{}]/g, '')
    .split(',')
    .filter((x) => x !== '')
    .map(Number);
  const requests = {
    count: b('request_count'),
    tokens: b('request_tokens'),
    computeMs: b('request_compute_ms'),
    costMicroUsd: b('request_cost'),
    unrated: b('unrated_requests'),
  };
  const jobs = {
    completed: b('jobs_completed'),
    failed: b('jobs_failed'),
    tokens: b('job_tokens'),
    durationMs: b('job_duration_ms'),
    reportedCostMicroUsd: b('job_reported'),
    ratedCostMicroUsd: b('job_rated'),
    unrated: b('unrated_jobs'),
  };
  return {
    chainId,
    tenant,
    fromMs: from,
    toMs: to,
    requests,
    byReason: reasons.rows.map((r) => ({
      reason: r.reason,
      count: BigInt(r.n),
      tokens: BigInt(r.tokens),
      computeMs: BigInt(r.compute_ms),
    })),
    jobs,
    totalCostMicroUsd: requests.costMicroUsd + jobs.ratedCostMicroUsd,
    priceBookVersions: versions,
  };
}

/** Tenants with any usage on a chain (from the daily rollups). */
export async function listTenants(pool: pg.Pool, req: { chainId: string }): Promise<string[]> {
  const chainId = chainIdArg(req.chainId);
  const r = await pool.query<{ tenant: string }>('SELECT DISTINCT tenant FROM tenant_usage_daily WHERE chain_id = $1 ORDER BY tenant', [chainId]);
  return r.rows.map((x) => x.tenant);
}
