/**
 * Re-rating (docs/read-models.md "Pricing"): recomputes the rated cost of
 * every billable line sealed in [fromMs, toMs) with the book in effect for
 * its hour window, then the cost columns and price_book_versions of the
 * hourly and daily tenant windows over that range. The same formula as
 * rating.ts (exact numeric arithmetic, rounded half-up once per line). The
 * reconciler of each chain where a job's rated cost or book version changed
 * re-evaluates all its jobs on its next pass (reconciler_state.last_sequence
 * reset to 0); a re-rate that changes nothing leaves it alone.
 * Runs inside the caller's transaction, which holds PRICING_LOCK_KEY.
 */
import type pg from 'pg';

// Book intervals: per distinct effective_from the winning (highest) version,
// in effect until the next effective_from.
const INTERVALS = `
  books AS (
    SELECT DISTINCT ON (effective_from_ms) effective_from_ms AS f, version
    FROM price_books ORDER BY effective_from_ms, version DESC),
  iv AS (
    SELECT b.version, b.f, lead(b.f) OVER (ORDER BY b.f) AS t,
           (SELECT micro_usd FROM price_book_rates r WHERE r.version = b.version AND r.rate_kind = 'gpu_hour' AND r.rate_key = '*') AS gpu,
           (SELECT micro_usd FROM price_book_rates r WHERE r.version = b.version AND r.rate_kind = 'token' AND r.rate_key = '*') AS tok
    FROM books b)`;

const RANGE = (col: string): string => `${col} >= $1 AND ($2::bigint IS NULL OR ${col} < $2)`;

export interface RerateResult {
  requests: number;
  jobs: number;
  hourlyWindows: number;
  dailyWindows: number;
}

export async function rerateRange(client: pg.PoolClient, fromMs: bigint, toMs: bigint | null): Promise<RerateResult> {
  const params = [fromMs.toString(), toMs === null ? null : toMs.toString()];
  const requests = await client.query(
    `WITH ${INTERVALS}
     UPDATE inference_requests ir
        SET price_book_version = iv.version,
            rated_cost_micro_usd = div(ir.compute_ms * iv.gpu * 5 + ir.total_tokens * iv.tok * 18 + 9000000, 18000000)
       FROM iv
      WHERE ${RANGE('ir.sealed_at_ms')}
        AND ir.sealed_at_ms >= iv.f AND (iv.t IS NULL OR ir.sealed_at_ms < iv.t)`,
    params,
  );
  // One pass over the jobs in range: the new cost and version, and which
  // rows they change (compared before the update), so the reconciler is reset
  // only for chains where something changed.
  const jobs = await client.query<{ n: string; chains: string[] | null }>(
    `WITH ${INTERVALS},
     calc AS (
       SELECT j.chain_id, j.job_id, iv.version AS v,
              div(
                j.duration_ms * coalesce((SELECT micro_usd FROM price_book_rates r WHERE r.version = iv.version AND r.rate_kind = 'gpu_hour' AND r.rate_key = j.rated_device_type), iv.gpu) * 5
                + j.tokens_generated * coalesce((SELECT micro_usd FROM price_book_rates r WHERE r.version = iv.version AND r.rate_kind = 'token' AND r.rate_key = j.rated_model_id), iv.tok) * 18
                + 9000000, 18000000) AS c,
              j.price_book_version AS old_v, j.rated_cost_micro_usd AS old_c
         FROM jobs j JOIN iv ON j.completed_at_ms >= iv.f AND (iv.t IS NULL OR j.completed_at_ms < iv.t)
        WHERE j.completion_sequence IS NOT NULL AND ${RANGE('j.completed_at_ms')}),
     upd AS (
       UPDATE jobs j SET price_book_version = calc.v, rated_cost_micro_usd = calc.c
         FROM calc WHERE j.chain_id = calc.chain_id AND j.job_id = calc.job_id
       RETURNING calc.chain_id, (calc.v IS DISTINCT FROM calc.old_v OR calc.c IS DISTINCT FROM calc.old_c) AS changed)
     SELECT count(*)::text AS n, array_agg(DISTINCT chain_id) FILTER (WHERE changed) AS chains FROM upd`,
    params,
  );
  const changedChains = jobs.rows[0]?.chains ?? [];
  if (changedChains.length > 0) {
    // The reconciler evaluates only jobs with new chain records since its
    // last pass, and a re-rate adds none: have it re-evaluate every job of
    // the chains whose job costs changed, so its rated cost (the fleet
    // reconciliation view) follows the new book on its next pass.
    await client.query(`UPDATE reconciler_state SET last_sequence = 0, updated_at = now() WHERE chain_id = ANY($1::text[])`, [changedChains]);
  }
  const hourly = await client.query(
    `WITH lines AS (
       SELECT chain_id, tenant, (sealed_at_ms / 3600000) * 3600000 AS w, rated_cost_micro_usd AS c, price_book_version AS v, true AS is_req
         FROM inference_requests WHERE ${RANGE('sealed_at_ms')}
       UNION ALL
       SELECT chain_id, completion_tenant, (completed_at_ms / 3600000) * 3600000, rated_cost_micro_usd, price_book_version, false
         FROM jobs WHERE completion_sequence IS NOT NULL AND ${RANGE('completed_at_ms')}),
     agg AS (
       SELECT chain_id, tenant, w,
              coalesce(sum(c) FILTER (WHERE is_req), 0) AS rc,
              count(*) FILTER (WHERE is_req AND v IS NULL) AS ur,
              coalesce(sum(c) FILTER (WHERE NOT is_req), 0) AS jc,
              count(*) FILTER (WHERE NOT is_req AND v IS NULL) AS uj,
              coalesce(array_agg(DISTINCT v ORDER BY v) FILTER (WHERE v IS NOT NULL), '{}') AS vs
         FROM lines GROUP BY chain_id, tenant, w)
     UPDATE tenant_usage_hourly t
        SET request_cost_micro_usd = agg.rc, unrated_request_count = agg.ur,
            job_rated_cost_micro_usd = agg.jc, unrated_job_count = agg.uj, price_book_versions = agg.vs
       FROM agg
      WHERE t.chain_id = agg.chain_id AND t.tenant = agg.tenant AND t.window_start_ms = agg.w`,
    params,
  );
  // Days overlapping the range are re-summed from their hours.
  const dayParams = [
    ((fromMs / 86_400_000n) * 86_400_000n).toString(),
    toMs === null ? null : (((toMs + 86_400_000n - 1n) / 86_400_000n) * 86_400_000n).toString(),
  ];
  const daily = await client.query(
    `WITH agg AS (
       SELECT chain_id, tenant, (window_start_ms / 86400000) * 86400000 AS d,
              sum(request_cost_micro_usd) AS rc, sum(unrated_request_count) AS ur,
              sum(job_rated_cost_micro_usd) AS jc, sum(unrated_job_count) AS uj
         FROM tenant_usage_hourly WHERE ${RANGE('window_start_ms')}
        GROUP BY 1, 2, 3),
     vs AS (
       SELECT chain_id, tenant, (window_start_ms / 86400000) * 86400000 AS d, array_agg(DISTINCT v ORDER BY v) AS vs
         FROM tenant_usage_hourly, unnest(price_book_versions) AS v
        WHERE ${RANGE('window_start_ms')}
        GROUP BY 1, 2, 3)
     UPDATE tenant_usage_daily t
        SET request_cost_micro_usd = agg.rc, unrated_request_count = agg.ur,
            job_rated_cost_micro_usd = agg.jc, unrated_job_count = agg.uj,
            price_book_versions = coalesce(vs.vs, '{}')
       FROM agg LEFT JOIN vs ON vs.chain_id = agg.chain_id AND vs.tenant = agg.tenant AND vs.d = agg.d
      WHERE t.chain_id = agg.chain_id AND t.tenant = agg.tenant AND t.window_start_ms = agg.d`,
    dayParams,
  );
  return {
    requests: requests.rowCount ?? 0,
    jobs: Number(jobs.rows[0]?.n ?? 0),
    hourlyWindows: hourly.rowCount ?? 0,
    dailyWindows: daily.rowCount ?? 0,
  };
}
