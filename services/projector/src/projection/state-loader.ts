/** Loads the current rows of the jobs and devices a batch touches (inside its transaction). */
import type pg from 'pg';
import { bigOrNull } from '../pg-errors.js';
import { eventKey } from './batch-builder.js';
import type { DeviceRow, JobRow } from './rows.js';

type Raw = Record<string, string | number | boolean | null>;
const s = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const n = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const b = (v: unknown): bigint | null => bigOrNull(v as string | null);

export async function loadJobs(client: pg.PoolClient, chainId: string, jobIds: Iterable<string>): Promise<Map<string, JobRow>> {
  const ids = [...jobIds];
  const out = new Map<string, JobRow>();
  if (ids.length === 0) return out;
  const res = await client.query<Raw>('SELECT * FROM jobs WHERE chain_id = $1 AND job_id = ANY($2::text[])', [chainId, ids]);
  for (const r of res.rows) {
    out.set(String(r['job_id']), {
      jobId: String(r['job_id']),
      status: r['status'] as JobRow['status'],
      dispatchTenant: s(r['dispatch_tenant']),
      deviceId: s(r['device_id']),
      modelId: s(r['model_id']),
      vramRequestedMib: b(r['vram_requested_mib']),
      predictedCostMicroUsd: b(r['predicted_cost_micro_usd']),
      dispatchSequence: b(r['dispatch_sequence']),
      dispatchedAtMs: b(r['dispatched_at_ms']),
      dispatchCount: Number(r['dispatch_count']),
      completionTenant: s(r['completion_tenant']),
      tokensGenerated: b(r['tokens_generated']),
      durationMs: b(r['duration_ms']),
      actualVramMib: b(r['actual_vram_mib']),
      reportedCostMicroUsd: b(r['reported_cost_micro_usd']),
      completionSequence: b(r['completion_sequence']),
      completedAtMs: b(r['completed_at_ms']),
      completionCount: Number(r['completion_count']),
      failureTenant: s(r['failure_tenant']),
      errorMessage: s(r['error_message']),
      failureSequence: b(r['failure_sequence']),
      failedAtMs: b(r['failed_at_ms']),
      failureCount: Number(r['failure_count']),
      ratedDeviceType: s(r['rated_device_type']),
      ratedModelId: s(r['rated_model_id']),
      ratedCostMicroUsd: b(r['rated_cost_micro_usd']),
      priceBookVersion: n(r['price_book_version']),
      lastSequence: BigInt(String(r['last_sequence'])),
    });
  }
  return out;
}

export async function loadDevices(client: pg.PoolClient, chainId: string, deviceIds: Iterable<string>): Promise<Map<string, DeviceRow>> {
  const ids = [...deviceIds];
  const out = new Map<string, DeviceRow>();
  if (ids.length === 0) return out;
  const res = await client.query<Raw>('SELECT * FROM devices WHERE chain_id = $1 AND device_id = ANY($2::text[])', [chainId, ids]);
  for (const r of res.rows) {
    out.set(String(r['device_id']), {
      deviceId: String(r['device_id']),
      registered: Boolean(r['registered']),
      hostname: s(r['hostname']),
      deviceType: s(r['device_type']),
      vramTotalMib: b(r['vram_total_mib']),
      registeredSequence: b(r['registered_sequence']),
      registeredAtMs: b(r['registered_at_ms']),
      registrationCount: Number(r['registration_count']),
      lastMetricsSequence: b(r['last_metrics_sequence']),
      lastSeenAtMs: b(r['last_seen_at_ms']),
      vramUsedMib: b(r['vram_used_mib']),
      reportedVramTotalMib: b(r['reported_vram_total_mib']),
      utilizationPct: b(r['utilization_pct']),
      temperatureMc: n(r['temperature_mc']),
      powerMw: b(r['power_mw']),
      metricsCount: BigInt(String(r['metrics_count'])),
    });
  }
  return out;
}

/**
 * Claims the (source, event_id) keys of a batch's inference requests for their
 * first record in it; returns eventKey() of those an earlier batch already
 * claimed (billed before: the batch must not bill them again). Inside the
 * batch's transaction, so a batch that rolls back releases its claims.
 */
export async function claimRequestEvents(
  client: pg.PoolClient,
  chainId: string,
  events: readonly { source: string; eventId: string; sequence: bigint }[],
): Promise<Set<string>> {
  const seen = new Set<string>();
  if (events.length === 0) return seen;
  const res = await client.query<{ source: string; event_id: string }>(
    `INSERT INTO inference_request_events (chain_id, source, event_id, sequence)
       SELECT DISTINCT ON (k.source, k.event_id) $1, k.source, k.event_id, k.sequence
         FROM unnest($2::text[], $3::text[], $4::bigint[]) AS k(source, event_id, sequence)
        ORDER BY k.source, k.event_id, k.sequence
     ON CONFLICT DO NOTHING
     RETURNING source, event_id`,
    [chainId, events.map((e) => e.source), events.map((e) => e.eventId), events.map((e) => e.sequence.toString())],
  );
  const claimed = new Set(res.rows.map((r) => eventKey(r.source, r.event_id)));
  for (const e of events) {
    const k = eventKey(e.source, e.eventId);
    if (!claimed.has(k)) seen.add(k);
  }
  return seen;
}
