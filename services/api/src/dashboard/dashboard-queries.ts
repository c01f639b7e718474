/**
 * Read-only queries behind the ops dashboard (docs/operations.md "Dashboard"), over the
 * read models of docs/read-models.md. Every query is bounded (LIMIT, a time
 * window on an index of migration 004, or primary-key lookups) so a large
 * ledger cannot make the dashboard scan whole tables (dashboard-plans.int
 * checks the plans); the one exception is the count of flags per kind,
 * which reads reconciliation_flags whole. Numbers meant for charts are JS numbers
 * (display only); exact totals (money, tokens) are decimal strings.
 */
import type pg from 'pg';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

export type Range = '1h' | '24h' | '7d';
export const RANGES: Record<Range, { spanMs: number; bucketMs: number }> = {
  '1h': { spanMs: HOUR, bucketMs: MINUTE },
  '24h': { spanMs: DAY, bucketMs: HOUR },
  '7d': { spanMs: 7 * DAY, bucketMs: DAY },
};

const hex = (b: Buffer | null | undefined): string => (b ? b.toString('hex') : '');
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const str = (v: unknown): string => (v === null || v === undefined ? '0' : String(v));

export interface ChainRow {
  chainId: string;
  headSequence: string;
  verifiedSequence: string;
  verifiedHash: string;
  status: string;
  brokenSequence: string | null;
  brokenReason: string | null;
  brokenMessage: string | null;
  updatedAtMs: number;
  /** Records per second over the last (up to) 1000 projected records, in chain time. */
  sealingRatePerSec: number;
  lastSealedAtMs: number | null;
}

/** Every chain the projector knows, with a sealing rate from two primary-key lookups. */
export async function chainsOverview(pool: pg.Pool): Promise<ChainRow[]> {
  const r = await pool.query<{
    chain_id: string;
    head_sequence: string;
    verified_sequence: string;
    verified_hash: Buffer | null;
    status: string;
    broken_sequence: string | null;
    broken_reason: string | null;
    broken_message: string | null;
    updated_at: Date;
    t_head: string | null;
    t_base: string | null;
    base_seq: string | null;
  }>(
    `SELECT s.chain_id, s.head_sequence, s.verified_sequence, s.verified_hash, s.status, s.broken_sequence,
            s.broken_reason, s.broken_message, s.updated_at,
            h.sealed_at_ms AS t_head, b.sealed_at_ms AS t_base, b.sequence AS base_seq
       FROM chain_status s
       LEFT JOIN records h ON h.chain_id = s.chain_id AND h.sequence = s.verified_sequence
       -- The oldest record still there within the last 1000 (archive --db deletes the rows below its cut).
       LEFT JOIN LATERAL (
         SELECT r.sequence, r.sealed_at_ms FROM records r
          WHERE r.chain_id = s.chain_id AND r.sequence >= GREATEST(1, s.verified_sequence - 1000) AND r.sequence <= s.verified_sequence
          ORDER BY r.sequence LIMIT 1
       ) b ON true
      ORDER BY s.chain_id`,
  );
  return r.rows.map((x) => {
    const known = x.t_head !== null && x.t_base !== null && x.base_seq !== null;
    const span = known ? num(x.t_head) - num(x.t_base) : 0;
    const n = known ? num(x.verified_sequence) - num(x.base_seq) : 0;
    return {
      chainId: x.chain_id,
      headSequence: str(x.head_sequence),
      verifiedSequence: str(x.verified_sequence),
      verifiedHash: hex(x.verified_hash),
      status: x.status,
      brokenSequence: x.broken_sequence,
      brokenReason: x.broken_reason,
      brokenMessage: x.broken_message,
      updatedAtMs: x.updated_at.getTime(),
      sealingRatePerSec: span > 0 && n > 0 ? (n * 1000) / span : 0,
      lastSealedAtMs: x.t_head === null ? null : num(x.t_head),
    };
  });
}

export interface DeviceRow {
  chainId: string;
  deviceId: string;
  hostname: string | null;
  deviceType: string | null;
  vramUsedMib: number | null;
  vramTotalMib: number | null;
  utilizationPct: number | null;
  temperatureMc: number | null;
  powerMw: number | null;
  lastSeenAtMs: number | null;
  registered: boolean;
}

/** One region's (chain's) devices in all, whether or not the list shows them. */
export interface RegionSummary {
  chainId: string;
  /** Devices in the read model. */
  devices: number;
  /** How many of them the device list holds (fewer once the list is cut at its limit). */
  listed: number;
  vramUsedMib: number;
  vramTotalMib: number;
  powerMw: number;
}

export interface Fleet {
  /** In region, hostname, device order; at most `limit`. */
  devices: DeviceRow[];
  /** Every region, totals over all its devices (not only the listed ones). */
  regions: RegionSummary[];
}

/** Devices the dashboard lists at most (a page of tens of thousands of rows would not help anyone). */
export const FLEET_LIST_LIMIT = 2000;

export async function fleet(pool: pg.Pool, limit = FLEET_LIST_LIMIT): Promise<Fleet> {
  const r = await pool.query(
    `SELECT chain_id, device_id, hostname, device_type, vram_used_mib, COALESCE(reported_vram_total_mib, vram_total_mib) AS vram_total,
            utilization_pct, temperature_mc, power_mw, last_seen_at_ms, registered
       FROM devices ORDER BY chain_id, hostname NULLS LAST, device_id LIMIT $1`,
    [limit],
  );
  // The totals come from the whole table: a cut list must not shrink a region's GPUs, VRAM or power.
  const t = await pool.query(
    `SELECT chain_id, count(*) AS devices, COALESCE(sum(vram_used_mib), 0) AS used, COALESCE(sum(COALESCE(reported_vram_total_mib, vram_total_mib)), 0) AS total,
            COALESCE(sum(power_mw), 0) AS power
       FROM devices GROUP BY chain_id ORDER BY chain_id`,
  );
  const n = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  const devices = r.rows.map((x: Record<string, unknown>) => ({
    chainId: String(x['chain_id']),
    deviceId: String(x['device_id']),
    hostname: (x['hostname'] as string | null) ?? null,
    deviceType: (x['device_type'] as string | null) ?? null,
    vramUsedMib: n(x['vram_used_mib']),
    vramTotalMib: n(x['vram_total']),
    utilizationPct: n(x['utilization_pct']),
    temperatureMc: n(x['temperature_mc']),
    powerMw: n(x['power_mw']),
    lastSeenAtMs: n(x['last_seen_at_ms']),
    registered: x['registered'] === true,
  }));
  const listed = new Map<string, number>();
  for (const d of devices) listed.set(d.chainId, (listed.get(d.chainId) ?? 0) + 1);
  const regions = t.rows.map((x: Record<string, unknown>) => {
    const chainId = String(x['chain_id']);
    return { chainId, devices: Number(x['devices']), listed: listed.get(chainId) ?? 0, vramUsedMib: Number(x['used']), vramTotalMib: Number(x['total']), powerMw: Number(x['power']) };
  });
  return { devices, regions };
}

export interface TenantSeries {
  range: Range;
  bucketMs: number;
  fromMs: number;
  buckets: number[];
  tenants: { tenant: string; tokens: number[]; computeMs: number[]; costMicroUsd: number[]; requests: number[] }[];
  reasons: { reason: string; counts: number[] }[];
  totals: { tenant: string; requests: string; tokens: string; computeMs: string; costMicroUsd: string }[];
}

/**
 * Tokens, compute, cost and completion reasons per tenant over time, in
 * chain time (sealed_at_ms). 1h: per minute from inference_requests and job
 * completions (indexed by time); 24h / 7d: the hourly / daily rollups.
 */
export async function tenantSeries(pool: pg.Pool, range: Range, nowMs: number, chainId?: string): Promise<TenantSeries> {
  const { spanMs, bucketMs } = RANGES[range];
  const toMs = Math.floor(nowMs / bucketMs) * bucketMs + bucketMs;
  const fromMs = toMs - spanMs;
  const buckets: number[] = [];
  for (let t = fromMs; t < toMs; t += bucketMs) buckets.push(t);
  const chainFilter = chainId ? 'AND chain_id = $4' : '';
  const params: unknown[] = [fromMs, toMs, bucketMs, ...(chainId ? [chainId] : [])];
  let usage: { tenant: string; bucket: string; requests: string; tokens: string; compute_ms: string; cost: string }[];
  let reasons: { reason: string; bucket: string; n: string }[];
  if (range === '1h') {
    usage = (
      await pool.query(
        `SELECT tenant, bucket, sum(requests) AS requests, sum(tokens) AS tokens, sum(compute_ms) AS compute_ms, sum(cost) AS cost FROM (
           SELECT tenant, (sealed_at_ms / $3) * $3 AS bucket, count(*) AS requests, sum(total_tokens) AS tokens, sum(compute_ms) AS compute_ms,
                  COALESCE(sum(rated_cost_micro_usd), 0) AS cost
             FROM inference_requests WHERE sealed_at_ms >= $1 AND sealed_at_ms < $2 ${chainFilter} GROUP BY 1, 2
           UNION ALL
           SELECT COALESCE(completion_tenant, ''), (completed_at_ms / $3) * $3, 0, sum(tokens_generated), sum(duration_ms), COALESCE(sum(rated_cost_micro_usd), 0)
             FROM jobs WHERE completion_sequence IS NOT NULL AND completed_at_ms >= $1 AND completed_at_ms < $2 ${chainFilter} GROUP BY 1, 2
         ) u GROUP BY 1, 2`,
        params,
      )
    ).rows;
    reasons = (
      await pool.query(
        `SELECT reason, (sealed_at_ms / $3) * $3 AS bucket, count(*) AS n FROM inference_requests
          WHERE sealed_at_ms >= $1 AND sealed_at_ms < $2 ${chainFilter} GROUP BY 1, 2`,
        params,
      )
    ).rows;
  } else {
    const suffix = range === '24h' ? 'hourly' : 'daily';
    usage = (
      await pool.query(
        `SELECT tenant, window_start_ms AS bucket, sum(request_count) AS requests, sum(request_tokens + job_tokens) AS tokens,
                sum(request_compute_ms + job_duration_ms) AS compute_ms, sum(request_cost_micro_usd + job_rated_cost_micro_usd) AS cost
           FROM tenant_usage_${suffix} WHERE window_start_ms >= $1 AND window_start_ms < $2 AND $3::bigint > 0 ${chainFilter} GROUP BY 1, 2`,
        params,
      )
    ).rows;
    reasons = (
      await pool.query(
        `SELECT reason, window_start_ms AS bucket, sum(request_count) AS n FROM tenant_reason_${suffix}
          WHERE window_start_ms >= $1 AND window_start_ms < $2 AND $3::bigint > 0 ${chainFilter} GROUP BY 1, 2`,
        params,
      )
    ).rows;
  }
  const idx = (b: string): number => Math.floor((Number(b) - fromMs) / bucketMs);
  const byTenant = new Map<string, TenantSeries['tenants'][number]>();
  const totals = new Map<string, { requests: bigint; tokens: bigint; computeMs: bigint; cost: bigint }>();
  const big = (v: string): bigint => BigInt(String(v).split('.')[0] ?? '0');
  for (const u of usage) {
    const name = u.tenant === '' ? '(none)' : u.tenant;
    let t = byTenant.get(name);
    if (!t) {
      t = { tenant: name, tokens: buckets.map(() => 0), computeMs: buckets.map(() => 0), costMicroUsd: buckets.map(() => 0), requests: buckets.map(() => 0) };
      byTenant.set(name, t);
    }
    const i = idx(u.bucket);
    if (i < 0 || i >= buckets.length) continue;
    t.tokens[i] = (t.tokens[i] ?? 0) + num(u.tokens);
    t.computeMs[i] = (t.computeMs[i] ?? 0) + num(u.compute_ms);
    t.costMicroUsd[i] = (t.costMicroUsd[i] ?? 0) + num(u.cost);
    t.requests[i] = (t.requests[i] ?? 0) + num(u.requests);
    const tot = totals.get(name) ?? { requests: 0n, tokens: 0n, computeMs: 0n, cost: 0n };
    tot.requests += big(u.requests);
    tot.tokens += big(u.tokens);
    tot.computeMs += big(u.compute_ms);
    tot.cost += big(u.cost);
    totals.set(name, tot);
  }
  const byReason = new Map<string, number[]>();
  for (const r of reasons) {
    const arr = byReason.get(r.reason) ?? buckets.map(() => 0);
    const i = idx(r.bucket);
    if (i >= 0 && i < buckets.length) arr[i] = (arr[i] ?? 0) + num(r.n);
    byReason.set(r.reason, arr);
  }
  return {
    range,
    bucketMs,
    fromMs,
    buckets,
    tenants: [...byTenant.values()].sort((a, b) => a.tenant.localeCompare(b.tenant)),
    reasons: [...byReason.entries()].map(([reason, counts]) => ({ reason, counts })).sort((a, b) => a.reason.localeCompare(b.reason)),
    totals: [...totals.entries()]
      .map(([tenant, t]) => ({ tenant, requests: t.requests.toString(), tokens: t.tokens.toString(), computeMs: t.computeMs.toString(), costMicroUsd: t.cost.toString() }))
      .sort((a, b) => a.tenant.localeCompare(b.tenant)),
  };
}

export interface FlagRow {
  chainId: string;
  jobId: string;
  flag: string;
  detail: string;
  chainTimeMs: number;
  deviceId: string | null;
  modelId: string | null;
  predictedVramMib: string | null;
  actualVramMib: string | null;
  predictedCostMicroUsd: string | null;
  actualCostMicroUsd: string | null;
}

export async function flags(pool: pg.Pool, limit = 200): Promise<{ items: FlagRow[]; counts: { flag: string; n: number }[] }> {
  const r = await pool.query(
    `SELECT f.chain_id, f.job_id, f.flag, f.detail, f.chain_time_ms, j.device_id, j.model_id,
            j.predicted_vram_mib::text, j.actual_vram_mib::text, j.predicted_cost_micro_usd::text, j.actual_cost_micro_usd::text
       FROM reconciliation_flags f LEFT JOIN job_reconciliation j ON j.chain_id = f.chain_id AND j.job_id = f.job_id
      ORDER BY f.chain_time_ms DESC, f.chain_id, f.job_id, f.flag LIMIT $1`,
    [limit],
  );
  const c = await pool.query(`SELECT flag, count(*)::int AS n FROM reconciliation_flags GROUP BY flag ORDER BY flag`);
  return {
    items: r.rows.map((x: Record<string, unknown>) => ({
      chainId: String(x['chain_id']),
      jobId: String(x['job_id']),
      flag: String(x['flag']),
      detail: String(x['detail']),
      chainTimeMs: num(x['chain_time_ms']),
      deviceId: (x['device_id'] as string | null) ?? null,
      modelId: (x['model_id'] as string | null) ?? null,
      predictedVramMib: (x['predicted_vram_mib'] as string | null) ?? null,
      actualVramMib: (x['actual_vram_mib'] as string | null) ?? null,
      predictedCostMicroUsd: (x['predicted_cost_micro_usd'] as string | null) ?? null,
      actualCostMicroUsd: (x['actual_cost_micro_usd'] as string | null) ?? null,
    })),
    counts: c.rows.map((x: { flag: string; n: number }) => ({ flag: x.flag, n: x.n })),
  };
}

/** Recent jobs and inference requests of a chain, to open their audit trails. */
export async function recent(pool: pg.Pool, chainId: string, limit = 12): Promise<{ jobs: { jobId: string; status: string; tenant: string; lastSequence: string }[]; requests: { requestId: string; tenant: string; reason: string; sequence: string }[] }> {
  const j = await pool.query(
    `SELECT job_id, status, COALESCE(completion_tenant, dispatch_tenant, failure_tenant, '') AS tenant, last_sequence::text
       FROM jobs WHERE chain_id = $1 ORDER BY last_sequence DESC LIMIT $2`,
    [chainId, limit],
  );
  const q = await pool.query(`SELECT request_id, tenant, reason, sequence::text FROM inference_requests WHERE chain_id = $1 ORDER BY sequence DESC LIMIT $2`, [chainId, limit]);
  return {
    jobs: j.rows.map((x: Record<string, unknown>) => ({ jobId: String(x['job_id']), status: String(x['status']), tenant: String(x['tenant']), lastSequence: String(x['last_sequence']) })),
    requests: q.rows.map((x: Record<string, unknown>) => ({ requestId: String(x['request_id']), tenant: String(x['tenant']), reason: String(x['reason']), sequence: String(x['sequence']) })),
  };
}
