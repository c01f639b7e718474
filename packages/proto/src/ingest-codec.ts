/**
 * Boundary between the protobuf ingest envelope and chain events. Generated
 * types are loose (every field defaults, enums are open): narrow them here so
 * nothing past this file sees a half-filled event. Input is attacker-
 * controlled: any failure is an `IngestDecodeError` with a stable code, never
 * a crash.
 */
import { COMPLETION_REASONS, type ChainEvent, type CompletionReason } from '@hwledger/chain';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { CompletionReason as PbReason, IngestBatch, IngestEvent } from './gen/hwledger/v1/ingest.js';

export const INGEST_ENVELOPE_VERSION = 1;

export type IngestDecodeCode = 'MALFORMED_PROTOBUF' | 'UNSUPPORTED_ENVELOPE' | 'EMPTY_BATCH' | 'TOO_MANY_EVENTS' | 'MISSING_PAYLOAD' | 'UNKNOWN_REASON';

export class IngestDecodeError extends Error {
  override readonly name = 'IngestDecodeError';
  constructor(
    readonly code: IngestDecodeCode,
    message: string,
  ) {
    super(message);
  }
}

const REASON_TO_PB: Record<CompletionReason, PbReason> = {
  end_of_sequence: PbReason.COMPLETION_REASON_END_OF_SEQUENCE,
  max_tokens_reached: PbReason.COMPLETION_REASON_MAX_TOKENS_REACHED,
  engine_error: PbReason.COMPLETION_REASON_ENGINE_ERROR,
  cancelled: PbReason.COMPLETION_REASON_CANCELLED,
  preempted: PbReason.COMPLETION_REASON_PREEMPTED,
};

const PB_TO_REASON = new Map<number, CompletionReason>(COMPLETION_REASONS.map((r) => [REASON_TO_PB[r], r]));

export function eventToProto(e: ChainEvent): IngestEvent {
  const base = { source: e.source, eventId: e.eventId, observedAtMs: e.observedAtMs, tenant: e.tenant, instanceId: e.instanceId };
  switch (e.kind) {
    case 'device_registered':
      return { ...base, data: { $case: 'deviceRegistered', value: { deviceId: e.data.device_id, hostname: e.data.hostname, deviceType: e.data.device_type, vramTotalMib: e.data.vram_total_mib } } };
    case 'job_dispatched':
      return {
        ...base,
        data: {
          $case: 'jobDispatched',
          value: { jobId: e.data.job_id, deviceId: e.data.device_id, modelId: e.data.model_id, vramRequestedMib: e.data.vram_requested_mib, predictedCostMicroUsd: e.data.predicted_cost_micro_usd },
        },
      };
    case 'job_completed':
      return {
        ...base,
        data: {
          $case: 'jobCompleted',
          value: { jobId: e.data.job_id, tokensGenerated: e.data.tokens_generated, durationMs: e.data.duration_ms, actualVramMib: e.data.actual_vram_mib, costMicroUsd: e.data.cost_micro_usd },
        },
      };
    case 'job_failed':
      return { ...base, data: { $case: 'jobFailed', value: { jobId: e.data.job_id, errorMessage: e.data.error_message } } };
    case 'metrics_collected':
      return {
        ...base,
        data: {
          $case: 'metricsCollected',
          value: {
            deviceId: e.data.device_id,
            vramUsedMib: e.data.vram_used_mib,
            vramTotalMib: e.data.vram_total_mib,
            utilizationPct: e.data.utilization_pct,
            temperatureMc: e.data.temperature_mc,
            powerMw: e.data.power_mw,
          },
        },
      };
    case 'inference_request_completed': {
      const reason = REASON_TO_PB[e.data.reason as CompletionReason];
      if (reason === undefined) throw new IngestDecodeError('UNKNOWN_REASON', `reason ${JSON.stringify(e.data.reason)} has no ingest encoding`);
      return {
        ...base,
        data: {
          $case: 'inferenceRequestCompleted',
          value: { tenantId: e.data.tenant_id, requestId: e.data.request_id, totalTokens: e.data.total_tokens, computeMs: e.data.compute_ms, reason },
        },
      };
    }
  }
}

/** Encodes events as one ingest message body. */
export function encodeIngestBatch(events: readonly ChainEvent[]): Uint8Array {
  return IngestBatch.encode({ version: INGEST_ENVELOPE_VERSION, events: events.map(eventToProto) }).finish();
}

/** Narrows one decoded protobuf event; throws IngestDecodeError. */
export function eventFromProto(p: IngestEvent): ChainEvent {
  const base = { source: p.source, eventId: p.eventId, observedAtMs: p.observedAtMs, tenant: p.tenant, instanceId: p.instanceId };
  const d = p.data;
  if (d === undefined) throw new IngestDecodeError('MISSING_PAYLOAD', 'event has no payload');
  switch (d.$case) {
    case 'deviceRegistered':
      return { ...base, kind: 'device_registered', data: { device_id: d.value.deviceId, hostname: d.value.hostname, device_type: d.value.deviceType, vram_total_mib: d.value.vramTotalMib } };
    case 'jobDispatched':
      return {
        ...base,
        kind: 'job_dispatched',
        data: { job_id: d.value.jobId, device_id: d.value.deviceId, model_id: d.value.modelId, vram_requested_mib: d.value.vramRequestedMib, predicted_cost_micro_usd: d.value.predictedCostMicroUsd },
      };
    case 'jobCompleted':
      return {
        ...base,
        kind: 'job_completed',
        data: { job_id: d.value.jobId, tokens_generated: d.value.tokensGenerated, duration_ms: d.value.durationMs, actual_vram_mib: d.value.actualVramMib, cost_micro_usd: d.value.costMicroUsd },
      };
    case 'jobFailed':
      return { ...base, kind: 'job_failed', data: { job_id: d.value.jobId, error_message: d.value.errorMessage } };
    case 'metricsCollected':
      return {
        ...base,
        kind: 'metrics_collected',
        data: {
          device_id: d.value.deviceId,
          vram_used_mib: d.value.vramUsedMib,
          vram_total_mib: d.value.vramTotalMib,
          utilization_pct: d.value.utilizationPct,
          temperature_mc: d.value.temperatureMc,
          power_mw: d.value.powerMw,
        },
      };
    case 'inferenceRequestCompleted': {
      const reason = PB_TO_REASON.get(d.value.reason);
      if (reason === undefined) throw new IngestDecodeError('UNKNOWN_REASON', `completion reason ${d.value.reason} is not defined`);
      return {
        ...base,
        kind: 'inference_request_completed',
        data: { tenant_id: d.value.tenantId, request_id: d.value.requestId, total_tokens: d.value.totalTokens, compute_ms: d.value.computeMs, reason },
      };
    }
    default:
      throw new IngestDecodeError('MISSING_PAYLOAD', 'event has an unknown payload');
  }
}

const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
function strictUtf8(bytes: Uint8Array): string {
  try {
    return fatalDecoder.decode(bytes);
  } catch {
    throw new IngestDecodeError('MALFORMED_PROTOBUF', 'a string field is not well-formed UTF-8');
  }
}

export interface DecodedBatch {
  /** Each event, or the reason it could not be narrowed (index-aligned). */
  events: ({ ok: true; event: ChainEvent } | { ok: false; code: IngestDecodeCode; message: string })[];
}

export interface DecodeIngestOptions {
  /**
   * Refuse a message of more events than this (TOO_MANY_EVENTS), decoding
   * at most one event past it. Threat: a hostile 1 MiB message of about
   * 500,000 empty events, each decoded (and each failing on its own) before
   * a count of the result could refuse it.
   */
  maxEvents?: number;
}

/**
 * IngestBatch.decode (gen/hwledger/v1/ingest.ts) with a bound on the number
 * of events: its own loop, statement for statement (the same tags, the same
 * IngestEvent.decode with the same reader, the same skips and the same
 * recursion depth), so it decodes exactly what IngestBatch.decode decodes
 * (ingest-codec.unit.test.ts compares the two on generated messages).
 * Counting events by walking the bytes instead cannot match it: the
 * generated IngestEvent.decode may read past an event's length on malformed
 * bytes, and where the batch loop resumes then decides what it sees next.
 */
function decodeBounded(reader: BinaryReader, maxEvents: number): IngestBatch {
  const r = reader as BinaryReader & { __tsProtoDecodeDepth?: number };
  const previousRecursionDepth = r.__tsProtoDecodeDepth ?? 0;
  if (previousRecursionDepth >= 100) throw new globalThis.Error('protobuf decode recursion limit exceeded');
  r.__tsProtoDecodeDepth = previousRecursionDepth + 1;
  try {
    const end = reader.len;
    const message = IngestBatch.fromPartial({});
    while (reader.pos < end) {
      const tag = reader.uint32();
      if (tag === 8) {
        message.version = reader.uint32();
        continue;
      }
      if (tag === 18) {
        if (message.events.length === maxEvents) throw new IngestDecodeError('TOO_MANY_EVENTS', `ingest message of more than ${maxEvents} events`);
        message.events.push(IngestEvent.decode(reader, reader.uint32()));
        continue;
      }
      if ((tag & 7) === 4 || tag === 0) break;
      reader.skip(tag & 7);
    }
    return message;
  } finally {
    r.__tsProtoDecodeDepth = previousRecursionDepth;
  }
}

/**
 * Decodes one ingest message body. Throws IngestDecodeError when the message
 * as a whole is unusable; per-event problems are reported per index so one bad
 * event does not take its batch-mates down with it.
 */
export function decodeIngestBatch(body: Uint8Array, opts: DecodeIngestOptions = {}): DecodedBatch {
  let batch: IngestBatch;
  try {
    // Strict UTF-8: the default reader would turn invalid bytes into U+FFFD
    // and so seal something the producer never sent.
    const reader = new BinaryReader(body, strictUtf8);
    batch = opts.maxEvents === undefined ? IngestBatch.decode(reader) : decodeBounded(reader, opts.maxEvents);
  } catch (e) {
    if (e instanceof IngestDecodeError) throw e;
    throw new IngestDecodeError('MALFORMED_PROTOBUF', `not an IngestBatch: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (batch.version !== INGEST_ENVELOPE_VERSION) {
    throw new IngestDecodeError('UNSUPPORTED_ENVELOPE', `ingest envelope version ${batch.version} is not supported (expected ${INGEST_ENVELOPE_VERSION})`);
  }
  if (batch.events.length === 0) throw new IngestDecodeError('EMPTY_BATCH', 'ingest message carries no events');
  return {
    events: batch.events.map((p) => {
      try {
        return { ok: true as const, event: eventFromProto(p) };
      } catch (e) {
        if (e instanceof IngestDecodeError) return { ok: false as const, code: e.code, message: e.message };
        throw e;
      }
    }),
  };
}
