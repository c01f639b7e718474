/**
 * Event kinds and their field layouts (spec: "Event variants").
 * Layouts are data, so encoder, decoder, JSON mapping and validation share one
 * source of truth. Existing layouts never change within format version 1.
 */
export type FieldType = 'str' | 'u32' | 'u64' | 'i32';

export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
}

export const KIND_NAMES = [
  'device_registered',
  'job_dispatched',
  'job_completed',
  'job_failed',
  'metrics_collected',
  'inference_request_completed',
] as const;

export type KindName = (typeof KIND_NAMES)[number];

export const KIND_TAGS: Readonly<Record<KindName, number>> = {
  device_registered: 0x01,
  job_dispatched: 0x02,
  job_completed: 0x03,
  job_failed: 0x04,
  metrics_collected: 0x05,
  inference_request_completed: 0x0c,
};

const f = (name: string, type: FieldType): FieldSpec => ({ name, type });

export const KIND_FIELDS: Readonly<Record<KindName, readonly FieldSpec[]>> = {
  device_registered: [f('device_id', 'str'), f('hostname', 'str'), f('device_type', 'str'), f('vram_total_mib', 'u64')],
  job_dispatched: [
    f('job_id', 'str'),
    f('device_id', 'str'),
    f('model_id', 'str'),
    f('vram_requested_mib', 'u64'),
    f('predicted_cost_micro_usd', 'u64'),
  ],
  job_completed: [
    f('job_id', 'str'),
    f('tokens_generated', 'u32'),
    f('duration_ms', 'u64'),
    f('actual_vram_mib', 'u64'),
    f('cost_micro_usd', 'u64'),
  ],
  job_failed: [f('job_id', 'str'), f('error_message', 'str')],
  metrics_collected: [
    f('device_id', 'str'),
    f('vram_used_mib', 'u64'),
    f('vram_total_mib', 'u64'),
    f('utilization_pct', 'u32'),
    f('temperature_mc', 'i32'),
    f('power_mw', 'u32'),
  ],
  inference_request_completed: [
    f('tenant_id', 'str'),
    f('request_id', 'str'),
    f('total_tokens', 'u32'),
    f('compute_ms', 'u64'),
    f('reason', 'str'),
  ],
};

const TAG_TO_KIND = new Map<number, KindName>(KIND_NAMES.map((k) => [KIND_TAGS[k], k]));

export function kindFromTag(tag: number): KindName | undefined {
  return TAG_TO_KIND.get(tag);
}

export function isKindName(s: unknown): s is KindName {
  return typeof s === 'string' && (KIND_NAMES as readonly string[]).includes(s);
}

/** The typed completion reasons (seed 003 `InferenceCompletionReason`). */
export const COMPLETION_REASONS = [
  'end_of_sequence',
  'max_tokens_reached',
  'engine_error',
  'cancelled',
  'preempted',
] as const;

export type CompletionReason = (typeof COMPLETION_REASONS)[number];

export function isCompletionReason(s: unknown): s is CompletionReason {
  return typeof s === 'string' && (COMPLETION_REASONS as readonly string[]).includes(s);
}
