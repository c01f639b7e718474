/**
 * Writes a built batch inside the caller's transaction: new rows (records,
 * device_metrics, inference_requests) are plain inserts, a second projection
 * of the same sequence is a primary-key violation (never a silent double
 * count); jobs and devices are replaced by their new state; rollups are
 * incremented by the batch's deltas.
 */
import type pg from 'pg';
import type { BatchBuilder } from './batch-builder.js';
import { bulkWrite, type Column } from './bulk.js';
import type { DeviceRow, JobRow, MetricsRollup, TenantUsage } from './rows.js';

const c = (name: string, type: string, select?: string): Column => (select === undefined ? { name, type } : { name, type, select });

const RECORD_COLUMNS = [
  c('chain_id', 'text'),
  c('sequence', 'bigint'),
  c('prev_hash', 'bytea'),
  c('hash', 'bytea'),
  c('canonical', 'bytea'),
  c('kind', 'text'),
  c('tenant', 'text'),
  c('instance_id', 'text'),
  c('source', 'text'),
  c('event_id', 'text'),
  c('observed_at_ms', 'numeric'),
  c('sealed_at_ms', 'bigint'),
  c('job_id', 'text'),
  c('request_id', 'text'),
  c('device_id', 'text'),
  c('data', 'text', 'x.data::jsonb'),
];

const METRIC_COLUMNS = [
  c('chain_id', 'text'),
  c('sequence', 'bigint'),
  c('device_id', 'text'),
  c('sealed_at_ms', 'bigint'),
  c('observed_at_ms', 'numeric'),
  c('vram_used_mib', 'numeric'),
  c('vram_total_mib', 'numeric'),
  c('utilization_pct', 'bigint'),
  c('temperature_mc', 'integer'),
  c('power_mw', 'bigint'),
];

const REQUEST_COLUMNS = [
  c('chain_id', 'text'),
  c('sequence', 'bigint'),
  c('tenant', 'text'),
  c('tenant_id', 'text'),
  c('request_id', 'text'),
  c('total_tokens', 'bigint'),
  c('compute_ms', 'numeric'),
  c('reason', 'text'),
  c('sealed_at_ms', 'bigint'),
  c('observed_at_ms', 'numeric'),
  c('rated_cost_micro_usd', 'numeric'),
  c('price_book_version', 'integer'),
];

const JOB_COLUMNS = [
  c('chain_id', 'text'),
  c('job_id', 'text'),
  c('status', 'text'),
  c('dispatch_tenant', 'text'),
  c('device_id', 'text'),
  c('model_id', 'text'),
  c('vram_requested_mib', 'numeric'),
  c('predicted_cost_micro_usd', 'numeric'),
  c('dispatch_sequence', 'bigint'),
  c('dispatched_at_ms', 'bigint'),
  c('dispatch_count', 'integer'),
  c('completion_tenant', 'text'),
  c('tokens_generated', 'bigint'),
  c('duration_ms', 'numeric'),
  c('actual_vram_mib', 'numeric'),
  c('reported_cost_micro_usd', 'numeric'),
  c('completion_sequence', 'bigint'),
  c('completed_at_ms', 'bigint'),
  c('completion_count', 'integer'),
  c('failure_tenant', 'text'),
  c('error_message', 'text'),
  c('failure_sequence', 'bigint'),
  c('failed_at_ms', 'bigint'),
  c('failure_count', 'integer'),
  c('rated_device_type', 'text'),
  c('rated_model_id', 'text'),
  c('rated_cost_micro_usd', 'numeric'),
  c('price_book_version', 'integer'),
  c('last_sequence', 'bigint'),
];

const DEVICE_COLUMNS = [
  c('chain_id', 'text'),
  c('device_id', 'text'),
  c('registered', 'boolean'),
  c('hostname', 'text'),
  c('device_type', 'text'),
  c('vram_total_mib', 'numeric'),
  c('registered_sequence', 'bigint'),
  c('registered_at_ms', 'bigint'),
  c('registration_count', 'integer'),
  c('last_metrics_sequence', 'bigint'),
  c('last_seen_at_ms', 'bigint'),
  c('vram_used_mib', 'numeric'),
  c('reported_vram_total_mib', 'numeric'),
  c('utilization_pct', 'bigint'),
  c('temperature_mc', 'integer'),
  c('power_mw', 'bigint'),
  c('metrics_count', 'bigint'),
];

const USAGE_COLUMNS = [
  c('chain_id', 'text'),
  c('tenant', 'text'),
  c('window_start_ms', 'bigint'),
  c('request_count', 'bigint'),
  c('request_tokens', 'numeric'),
  c('request_compute_ms', 'numeric'),
  c('request_cost_micro_usd', 'numeric'),
  c('unrated_request_count', 'bigint'),
  c('jobs_completed', 'bigint'),
  c('jobs_failed', 'bigint'),
  c('job_tokens', 'numeric'),
  c('job_duration_ms', 'numeric'),
  c('job_reported_cost_micro_usd', 'numeric'),
  c('job_rated_cost_micro_usd', 'numeric'),
  c('unrated_job_count', 'bigint'),
  c('price_book_versions', 'text', 'x.price_book_versions::integer[]'),
];
const USAGE_SUMS = USAGE_COLUMNS.slice(3, 15).map((col) => `${col.name} = t.${col.name} + excluded.${col.name}`);
const USAGE_CONFLICT = `ON CONFLICT (chain_id, tenant, window_start_ms) DO UPDATE SET ${USAGE_SUMS.join(', ')},
  price_book_versions = coalesce((SELECT array_agg(DISTINCT v ORDER BY v) FROM unnest(t.price_book_versions || excluded.price_book_versions) AS v), '{}')`;

const REASON_COLUMNS = [
  c('chain_id', 'text'),
  c('tenant', 'text'),
  c('window_start_ms', 'bigint'),
  c('reason', 'text'),
  c('request_count', 'bigint'),
  c('tokens', 'numeric'),
  c('compute_ms', 'numeric'),
];
const REASON_CONFLICT = `ON CONFLICT (chain_id, tenant, window_start_ms, reason) DO UPDATE SET
  request_count = t.request_count + excluded.request_count, tokens = t.tokens + excluded.tokens, compute_ms = t.compute_ms + excluded.compute_ms`;

const METRICS_ROLLUP_COLUMNS = [
  c('chain_id', 'text'),
  c('device_id', 'text'),
  c('window_start_ms', 'bigint'),
  c('samples', 'bigint'),
  c('vram_used_sum_mib', 'numeric'),
  c('vram_used_max_mib', 'numeric'),
  c('utilization_sum', 'numeric'),
  c('utilization_max', 'bigint'),
  c('temperature_sum_mc', 'numeric'),
  c('temperature_max_mc', 'integer'),
  c('power_sum_mw', 'numeric'),
  c('power_max_mw', 'bigint'),
];
const METRICS_ROLLUP_CONFLICT = `ON CONFLICT (chain_id, device_id, window_start_ms) DO UPDATE SET
  samples = t.samples + excluded.samples,
  vram_used_sum_mib = t.vram_used_sum_mib + excluded.vram_used_sum_mib, vram_used_max_mib = greatest(t.vram_used_max_mib, excluded.vram_used_max_mib),
  utilization_sum = t.utilization_sum + excluded.utilization_sum, utilization_max = greatest(t.utilization_max, excluded.utilization_max),
  temperature_sum_mc = t.temperature_sum_mc + excluded.temperature_sum_mc, temperature_max_mc = greatest(t.temperature_max_mc, excluded.temperature_max_mc),
  power_sum_mw = t.power_sum_mw + excluded.power_sum_mw, power_max_mw = greatest(t.power_max_mw, excluded.power_max_mw)`;

function replaceAll(columns: readonly Column[], pk: string[]): string {
  const sets = columns.filter((col) => !pk.includes(col.name)).map((col) => `${col.name} = excluded.${col.name}`);
  return `ON CONFLICT (${pk.join(', ')}) DO UPDATE SET ${sets.join(', ')}`;
}

const usageCells = (chainId: string, tenant: string, window: bigint, u: TenantUsage): (string | bigint)[] => [
  chainId,
  tenant,
  window,
  u.requestCount,
  u.requestTokens,
  u.requestComputeMs,
  u.requestCostMicroUsd,
  u.unratedRequestCount,
  u.jobsCompleted,
  u.jobsFailed,
  u.jobTokens,
  u.jobDurationMs,
  u.jobReportedCostMicroUsd,
  u.jobRatedCostMicroUsd,
  u.unratedJobCount,
  `{${[...u.priceBookVersions].sort((a, b) => a - b).join(',')}}`,
];

const metricsCells = (chainId: string, deviceId: string, window: bigint, m: MetricsRollup): (string | bigint | number)[] => [
  chainId,
  deviceId,
  window,
  m.samples,
  m.vramUsedSum,
  m.vramUsedMax,
  m.utilizationSum,
  m.utilizationMax,
  m.temperatureSum,
  m.temperatureMax,
  m.powerSum,
  m.powerMax,
];

const jobCells = (chainId: string, j: JobRow): (string | bigint | number | null)[] => [
  chainId,
  j.jobId,
  j.status,
  j.dispatchTenant,
  j.deviceId,
  j.modelId,
  j.vramRequestedMib,
  j.predictedCostMicroUsd,
  j.dispatchSequence,
  j.dispatchedAtMs,
  j.dispatchCount,
  j.completionTenant,
  j.tokensGenerated,
  j.durationMs,
  j.actualVramMib,
  j.reportedCostMicroUsd,
  j.completionSequence,
  j.completedAtMs,
  j.completionCount,
  j.failureTenant,
  j.errorMessage,
  j.failureSequence,
  j.failedAtMs,
  j.failureCount,
  j.ratedDeviceType,
  j.ratedModelId,
  j.ratedCostMicroUsd,
  j.priceBookVersion,
  j.lastSequence,
];

const deviceCells = (chainId: string, d: DeviceRow): (string | bigint | number | boolean | null)[] => [
  chainId,
  d.deviceId,
  d.registered,
  d.hostname,
  d.deviceType,
  d.vramTotalMib,
  d.registeredSequence,
  d.registeredAtMs,
  d.registrationCount,
  d.lastMetricsSequence,
  d.lastSeenAtMs,
  d.vramUsedMib,
  d.reportedVramTotalMib,
  d.utilizationPct,
  d.temperatureMc,
  d.powerMw,
  d.metricsCount,
];

export async function writeBatch(client: pg.PoolClient, chainId: string, b: BatchBuilder): Promise<void> {
  await bulkWrite(
    client,
    'records',
    RECORD_COLUMNS,
    b.records.map((r) => [
      chainId,
      r.sequence,
      r.prevHash,
      r.hash,
      r.canonical,
      r.kind,
      r.tenant,
      r.instanceId,
      r.source,
      r.eventId,
      r.observedAtMs,
      r.sealedAtMs,
      r.jobId,
      r.requestId,
      r.deviceId,
      r.data,
    ]),
  );
  await bulkWrite(
    client,
    'device_metrics',
    METRIC_COLUMNS,
    b.metrics.map((m) => [
      chainId,
      m.sequence,
      m.deviceId,
      m.sealedAtMs,
      m.observedAtMs,
      m.vramUsedMib,
      m.vramTotalMib,
      m.utilizationPct,
      m.temperatureMc,
      m.powerMw,
    ]),
  );
  await bulkWrite(
    client,
    'inference_requests',
    REQUEST_COLUMNS,
    b.requests.map((q) => [
      chainId,
      q.sequence,
      q.tenant,
      q.tenantId,
      q.requestId,
      q.totalTokens,
      q.computeMs,
      q.reason,
      q.sealedAtMs,
      q.observedAtMs,
      q.ratedCostMicroUsd,
      q.priceBookVersion,
    ]),
  );
  await bulkWrite(
    client,
    'jobs AS t',
    JOB_COLUMNS,
    [...b.touchedJobs].map((id) => jobCells(chainId, b.jobs.get(id)!)),
    replaceAll(JOB_COLUMNS, ['chain_id', 'job_id']),
  );
  await bulkWrite(
    client,
    'devices AS t',
    DEVICE_COLUMNS,
    [...b.touchedDevices].map((id) => deviceCells(chainId, b.devices.get(id)!)),
    replaceAll(DEVICE_COLUMNS, ['chain_id', 'device_id']),
  );
  for (const [table, map] of [
    ['tenant_usage_hourly', b.usageHourly],
    ['tenant_usage_daily', b.usageDaily],
  ] as const) {
    await bulkWrite(
      client,
      `${table} AS t`,
      USAGE_COLUMNS,
      [...map.values()].map((e) => usageCells(chainId, e.tenant, e.window, e.u)),
      USAGE_CONFLICT,
    );
  }
  for (const [table, map] of [
    ['tenant_reason_hourly', b.reasonHourly],
    ['tenant_reason_daily', b.reasonDaily],
  ] as const) {
    await bulkWrite(
      client,
      `${table} AS t`,
      REASON_COLUMNS,
      [...map.values()].map((e) => [chainId, e.tenant, e.window, e.reason, e.r.requestCount, e.r.tokens, e.r.computeMs]),
      REASON_CONFLICT,
    );
  }
  for (const [table, map] of [
    ['device_metrics_hourly', b.metricsHourly],
    ['device_metrics_daily', b.metricsDaily],
  ] as const) {
    await bulkWrite(
      client,
      `${table} AS t`,
      METRICS_ROLLUP_COLUMNS,
      [...map.values()].map((e) => metricsCells(chainId, e.deviceId, e.window, e.m)),
      METRICS_ROLLUP_CONFLICT,
    );
  }
}
