/**
 * JSON forms (spec: "JSON form of an event", vectors.json): u64 values are
 * decimal strings, u32/i32 JSON numbers. Input is attacker-controlled (CLI,
 * HTTP, fixtures): every member is type- and range-checked, with the path of
 * the first bad member in the error.
 */
import { ChainError } from './errors.js';
import { KIND_FIELDS, isKindName, type FieldSpec } from './kinds.js';
import { I32_MAX, I32_MIN, U32_MAX, U64_MAX } from './limits.js';
import type { ChainEvent, ChainRecord } from './record.js';
import { isWellFormed } from './bytes.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/** The spec's JSON form of an event. */
export interface EventJson {
  kind: string;
  source: string;
  event_id: string;
  observed_at_ms: string;
  tenant: string;
  instance_id: string;
  data: Record<string, string | number>;
}

/** The JSON form of a record: the event plus what the sequencer assigned. */
export interface RecordJson extends EventJson {
  chain_id: string;
  sequence: string;
  sealed_at_ms: string;
}

const U64_RE = /^(0|[1-9][0-9]{0,19})$/;

/** Parses a u64 written as a decimal string (no sign, no leading zeros). */
export function parseU64(v: unknown, path: string): bigint {
  if (typeof v !== 'string' || !U64_RE.test(v)) {
    throw new ChainError('INVALID_FIELD', `${path}: expected a u64 as a decimal string`);
  }
  const n = BigInt(v);
  if (n > U64_MAX) throw new ChainError('INVALID_FIELD', `${path}: exceeds u64`);
  return n;
}

function parseU32(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > U32_MAX) {
    throw new ChainError('INVALID_FIELD', `${path}: expected a u32 JSON number`);
  }
  return v;
}

function parseI32(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < I32_MIN || v > I32_MAX) {
    throw new ChainError('INVALID_FIELD', `${path}: expected an i32 JSON number`);
  }
  return v;
}

function parseStr(v: unknown, path: string): string {
  if (typeof v !== 'string') throw new ChainError('INVALID_FIELD', `${path}: expected a string`);
  if (!isWellFormed(v)) throw new ChainError('INVALID_UTF8', `${path}: contains a lone surrogate`);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseField(spec: FieldSpec, v: unknown, path: string): string | number | bigint {
  switch (spec.type) {
    case 'str':
      return parseStr(v, path);
    case 'u32':
      return parseU32(v, path);
    case 'i32':
      return parseI32(v, path);
    case 'u64':
      return parseU64(v, path);
  }
}

function dataToJson(kind: ChainEvent['kind'], data: object): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  const d = data as Record<string, unknown>;
  for (const spec of KIND_FIELDS[kind]) {
    const v = d[spec.name];
    out[spec.name] = typeof v === 'bigint' ? v.toString() : (v as string | number);
  }
  return out;
}

/** A JSON-safe object in the spec's JSON form of an event. */
export function eventToJson(e: ChainEvent): EventJson {
  return {
    kind: e.kind,
    source: e.source,
    event_id: e.eventId,
    observed_at_ms: e.observedAtMs.toString(),
    tenant: e.tenant,
    instance_id: e.instanceId,
    data: dataToJson(e.kind, e.data),
  };
}

/** A JSON-safe object in the JSON form of a record (vectors.json member names). */
export function recordToJson(r: ChainRecord): RecordJson {
  return {
    chain_id: r.chainId,
    sequence: r.sequence.toString(),
    sealed_at_ms: r.sealedAtMs.toString(),
    ...eventToJson(r),
  };
}

/**
 * Parses and type-checks the JSON form of an event. Unknown members are
 * rejected so that a typo cannot silently drop a field. This checks wire
 * types only; policy (lengths, known reasons) is `validateEvent`.
 */
export function eventFromJson(input: unknown, path = 'event'): ChainEvent {
  if (!isObject(input)) throw new ChainError('INVALID_JSON', `${path}: expected a JSON object`);
  const allowed = new Set(['kind', 'source', 'event_id', 'observed_at_ms', 'tenant', 'instance_id', 'data']);
  for (const k of Object.keys(input)) {
    if (!allowed.has(k)) throw new ChainError('INVALID_FIELD', `${path}.${k}: unknown member`);
  }
  const kind = input['kind'];
  if (!isKindName(kind)) throw new ChainError('UNKNOWN_KIND', `${path}.kind: unknown kind ${JSON.stringify(kind)}`);
  const data = input['data'];
  if (!isObject(data)) throw new ChainError('INVALID_FIELD', `${path}.data: expected a JSON object`);
  const specs = KIND_FIELDS[kind];
  const names = new Set(specs.map((s) => s.name));
  for (const k of Object.keys(data)) {
    if (!names.has(k)) throw new ChainError('INVALID_FIELD', `${path}.data.${k}: not a field of ${kind}`);
  }
  const parsed: Record<string, string | number | bigint> = {};
  for (const spec of specs) {
    if (!(spec.name in data)) throw new ChainError('INVALID_FIELD', `${path}.data.${spec.name}: missing`);
    parsed[spec.name] = parseField(spec, data[spec.name], `${path}.data.${spec.name}`);
  }
  return {
    kind,
    source: parseStr(input['source'], `${path}.source`),
    eventId: parseStr(input['event_id'], `${path}.event_id`),
    observedAtMs: parseU64(input['observed_at_ms'], `${path}.observed_at_ms`),
    tenant: parseStr(input['tenant'] ?? '', `${path}.tenant`),
    instanceId: parseStr(input['instance_id'], `${path}.instance_id`),
    data: parsed,
  } as unknown as ChainEvent;
}

/**
 * Parses the JSON form of a record. `sequence` may be a decimal string or (as
 * in vectors.json) a safe-integer JSON number.
 */
export function recordFromJson(input: unknown, path = 'record'): ChainRecord {
  if (!isObject(input)) throw new ChainError('INVALID_JSON', `${path}: expected a JSON object`);
  const { chain_id, sequence, sealed_at_ms, prev_hash, hash, canonical_hex, ...event } = input;
  void prev_hash;
  void hash;
  void canonical_hex;
  const seq =
    typeof sequence === 'number' && Number.isSafeInteger(sequence) && sequence >= 0
      ? BigInt(sequence)
      : parseU64(sequence, `${path}.sequence`);
  return {
    ...eventFromJson(event, path),
    chainId: parseStr(chain_id, `${path}.chain_id`),
    sequence: seq,
    sealedAtMs: parseU64(sealed_at_ms, `${path}.sealed_at_ms`),
  };
}
