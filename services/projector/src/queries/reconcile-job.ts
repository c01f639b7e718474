/**
 * Reconciliation report for one job, computed fresh from the projector's
 * tables (jobs, devices, device_metrics) with the running reconciler's
 * settings (reconciler_state) or the defaults.
 */
import type pg from 'pg';
import { HwlError } from '@hwledger/core';
import { chainIdArg, keyArg } from './args.js';
import { inTransaction } from '../pg-client.js';
import { DEFAULT_RECONCILE_SETTINGS, evaluateJob, type JobFacts, type JobReconciliation, type ReconcileSettings } from './reconcile-rules.js';

type Raw = Record<string, string | number | null>;
const big = (v: string | number | null | undefined): bigint | null => (v === null || v === undefined ? null : BigInt(v));

/** SELECT list producing JobFacts columns for jobs `j` (device type as rated, else the device's current type). */
export const JOB_FACTS_SQL = `
  SELECT j.chain_id, j.job_id, j.status, j.device_id, coalesce(j.rated_device_type, d.device_type) AS device_type, j.model_id,
         j.vram_requested_mib, j.predicted_cost_micro_usd, j.dispatch_sequence, j.dispatched_at_ms, j.dispatch_count,
         j.completion_sequence, j.actual_vram_mib, j.reported_cost_micro_usd, j.completion_count,
         j.failure_sequence, j.failure_count, j.rated_cost_micro_usd, j.price_book_version,
         CASE WHEN j.dispatch_sequence IS NULL THEN NULL ELSE
           (SELECT max(m.vram_used_mib) FROM device_metrics m
             WHERE m.chain_id = j.chain_id AND m.device_id = j.device_id AND m.sequence > j.dispatch_sequence
               AND m.sequence <= coalesce(least(j.completion_sequence, j.failure_sequence), 9223372036854775807)) END AS telemetry_max
    FROM jobs j LEFT JOIN devices d ON d.chain_id = j.chain_id AND d.device_id = j.device_id`;

export function jobFactsFromRow(r: Raw): JobFacts {
  return {
    chainId: String(r['chain_id']),
    jobId: String(r['job_id']),
    status: r['status'] as JobFacts['status'],
    deviceId: (r['device_id'] as string | null) ?? null,
    deviceType: (r['device_type'] as string | null) ?? null,
    modelId: (r['model_id'] as string | null) ?? null,
    vramRequestedMib: big(r['vram_requested_mib']),
    predictedCostMicroUsd: big(r['predicted_cost_micro_usd']),
    dispatchSequence: big(r['dispatch_sequence']),
    dispatchedAtMs: big(r['dispatched_at_ms']),
    dispatchCount: Number(r['dispatch_count']),
    completionSequence: big(r['completion_sequence']),
    actualVramMib: big(r['actual_vram_mib']),
    reportedCostMicroUsd: big(r['reported_cost_micro_usd']),
    completionCount: Number(r['completion_count']),
    failureSequence: big(r['failure_sequence']),
    failureCount: Number(r['failure_count']),
    ratedCostMicroUsd: big(r['rated_cost_micro_usd']),
    priceBookVersion: r['price_book_version'] === null || r['price_book_version'] === undefined ? null : Number(r['price_book_version']),
    telemetryMaxVramMib: big(r['telemetry_max']),
  };
}

/**
 * Chain time of the verified head: sealed_at_ms of the last projected record
 * (0 before any), as the checkpoint keeps it; the record's own row only for a
 * checkpoint written before migration 005 (archival may have deleted it).
 */
export async function chainTimeMs(db: pg.Pool | pg.PoolClient, chainId: string): Promise<bigint> {
  const r = await db.query<{ t: string | null }>(
    `SELECT COALESCE(c.sealed_at_ms, r.sealed_at_ms) AS t FROM projector_checkpoints c
       LEFT JOIN records r ON r.chain_id = c.chain_id AND r.sequence = c.sequence
      WHERE c.chain_id = $1`,
    [chainId],
  );
  return big(r.rows[0]?.t) ?? 0n;
}

export async function reconcilerSettings(db: pg.Pool | pg.PoolClient, chainId: string): Promise<ReconcileSettings> {
  const r = await db.query<{
    threshold_pct: string;
    dispatch_timeout_ms: string;
  }>('SELECT threshold_pct, dispatch_timeout_ms FROM reconciler_state WHERE chain_id = $1', [chainId]);
  const row = r.rows[0];
  return row
    ? {
        thresholdPct: Number(row.threshold_pct),
        dispatchTimeoutMs: BigInt(row.dispatch_timeout_ms),
      }
    : DEFAULT_RECONCILE_SETTINGS;
}

/**
 * The job's facts, the settings and the chain time are read in one snapshot
 * (REPEATABLE READ): read one by one, a projector batch committed in between
 * paired a job's old facts (still dispatched) with a later chain time, and the
 * report flagged missing_completion on a job that had completed.
 */
export async function reconcileJob(pool: pg.Pool, chainId: string, jobId: string, settings?: Partial<ReconcileSettings>): Promise<JobReconciliation> {
  chainIdArg(chainId);
  keyArg(jobId, 'job_id');
  return inTransaction(
    pool,
    async (client) => {
      const r = await client.query<Raw>(`${JOB_FACTS_SQL} WHERE j.chain_id = $1 AND j.job_id = $2`, [chainId, jobId]);
      const row = r.rows[0];
      if (!row) throw new HwlError('NOT_FOUND', `job ${JSON.stringify(jobId)} is not on chain ${JSON.stringify(chainId)}`);
      const s = { ...(await reconcilerSettings(client, chainId)), ...settings };
      return evaluateJob(jobFactsFromRow(row), await chainTimeMs(client, chainId), s);
    },
    'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
  );
}
