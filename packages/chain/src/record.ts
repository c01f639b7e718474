/**
 * Record and event types (spec: "Record: canonical bytes", "JSON form of an
 * event"). u64 values are `bigint`; u32/i32 are `number`. Payload field names
 * are the spec's snake_case names so the JSON form maps one to one.
 */
import type { KindName } from './kinds.js';

export const FORMAT_VERSION = 1;

export interface DeviceRegisteredData {
  device_id: string;
  hostname: string;
  device_type: string;
  vram_total_mib: bigint;
}
export interface JobDispatchedData {
  job_id: string;
  device_id: string;
  model_id: string;
  vram_requested_mib: bigint;
  predicted_cost_micro_usd: bigint;
}
export interface JobCompletedData {
  job_id: string;
  tokens_generated: number;
  duration_ms: bigint;
  actual_vram_mib: bigint;
  cost_micro_usd: bigint;
}
export interface JobFailedData {
  job_id: string;
  error_message: string;
}
export interface MetricsCollectedData {
  device_id: string;
  vram_used_mib: bigint;
  vram_total_mib: bigint;
  utilization_pct: number;
  temperature_mc: number;
  power_mw: number;
}
export interface InferenceRequestCompletedData {
  tenant_id: string;
  request_id: string;
  total_tokens: number;
  compute_ms: bigint;
  /** One of COMPLETION_REASONS when produced here; readers accept any string. */
  reason: string;
}

export interface EventDataMap {
  device_registered: DeviceRegisteredData;
  job_dispatched: JobDispatchedData;
  job_completed: JobCompletedData;
  job_failed: JobFailedData;
  metrics_collected: MetricsCollectedData;
  inference_request_completed: InferenceRequestCompletedData;
}

/** The producer-supplied part of a record. */
export interface EventEnvelope {
  source: string;
  eventId: string;
  observedAtMs: bigint;
  tenant: string;
  instanceId: string;
}

/** An event as a producer emits it: the record less what the sequencer assigns. */
export type ChainEvent = {
  [K in KindName]: EventEnvelope & { kind: K; data: EventDataMap[K] };
}[KindName];

/** What the sequencer adds when it seals an event. */
export interface SealFields {
  chainId: string;
  sequence: bigint;
  sealedAtMs: bigint;
}

/** A sealed record, decoded from (or encodable to) canonical bytes. */
export type ChainRecord = ChainEvent & SealFields;

/** A trusted point of a chain: the hash of the record at `sequence` (0 = genesis). */
export interface Anchor {
  chainId: string;
  sequence: bigint;
  hash: Uint8Array;
}
