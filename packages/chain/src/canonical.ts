/**
 * Canonical bytes of a record (spec: "Record: canonical bytes"). These bytes
 * are both what is hashed and what is stored as the chain message body.
 */
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { ChainError } from './errors.js';
import { KIND_FIELDS, KIND_TAGS, kindFromTag, type FieldSpec, type KindName } from './kinds.js';
import { FORMAT_VERSION, type ChainRecord, type EventDataMap } from './record.js';

type DataValue = string | number | bigint;

function writeField(w: ByteWriter, spec: FieldSpec, value: unknown, path: string): void {
  switch (spec.type) {
    case 'str':
      if (typeof value !== 'string') throw new ChainError('INVALID_FIELD', `${path}: expected a string`);
      w.str(value, path);
      return;
    case 'u32':
      w.u32(value as number, path);
      return;
    case 'i32':
      w.i32(value as number, path);
      return;
    case 'u64':
      w.u64(value as bigint, path);
      return;
  }
}

function readField(r: ByteReader, spec: FieldSpec, path: string): DataValue {
  switch (spec.type) {
    case 'str':
      return r.str(path);
    case 'u32':
      return r.u32(path);
    case 'i32':
      return r.i32(path);
    case 'u64':
      return r.u64(path);
  }
}

/** Encodes `event_data`: the variant tag followed by its fields. */
export function encodeEventData(kind: KindName, data: object, w: ByteWriter = new ByteWriter()): ByteWriter {
  const tag = KIND_TAGS[kind];
  if (tag === undefined) throw new ChainError('UNKNOWN_KIND', `unknown kind ${JSON.stringify(kind)}`);
  w.u8(tag, 'event_data tag');
  const d = data as Record<string, unknown>;
  for (const spec of KIND_FIELDS[kind]) writeField(w, spec, d[spec.name], `data.${spec.name}`);
  return w;
}

/** One writer reused by encodeRecord (synchronous, so never shared by two calls at once). */
const scratch = new ByteWriter(512);

/** Encodes a record to canonical bytes. Throws ChainError on out-of-range or non-UTF-8 input. */
export function encodeRecord(record: ChainRecord): Uint8Array {
  const w = scratch;
  w.reset();
  w.u8(FORMAT_VERSION, 'format_version');
  w.str(record.chainId, 'chain_id');
  w.u64(record.sequence, 'sequence');
  w.u64(record.sealedAtMs, 'sealed_at_ms');
  w.u64(record.observedAtMs, 'observed_at_ms');
  w.str(record.source, 'source');
  w.str(record.eventId, 'event_id');
  const tag = KIND_TAGS[record.kind];
  if (tag === undefined) throw new ChainError('UNKNOWN_KIND', `unknown kind ${JSON.stringify(record.kind)}`);
  w.u8(tag, 'kind');
  w.str(record.tenant, 'tenant');
  w.str(record.instanceId, 'instance_id');
  encodeEventData(record.kind, record.data, w);
  return w.finish();
}

/**
 * Decodes canonical bytes. Rejects (typed `code`): TRUNCATED, TRAILING_BYTES,
 * INVALID_UTF8, UNSUPPORTED_VERSION, UNKNOWN_KIND, TAG_MISMATCH. An unknown
 * `reason` string is accepted: readers must still verify such chains.
 */
export function decodeRecord(bytes: Uint8Array): ChainRecord {
  if (!(bytes instanceof Uint8Array)) throw new ChainError('INVALID_FIELD', 'canonical bytes must be a Uint8Array');
  const r = new ByteReader(bytes);
  const version = r.u8('format_version');
  if (version !== FORMAT_VERSION) {
    throw new ChainError('UNSUPPORTED_VERSION', `format_version ${version} is not supported (expected ${FORMAT_VERSION})`, 0);
  }
  const chainId = r.str('chain_id');
  const sequence = r.u64('sequence');
  const sealedAtMs = r.u64('sealed_at_ms');
  const observedAtMs = r.u64('observed_at_ms');
  const source = r.str('source');
  const eventId = r.str('event_id');
  const kindAt = r.offset;
  const kindTag = r.u8('kind');
  const kind = kindFromTag(kindTag);
  if (kind === undefined) {
    throw new ChainError('UNKNOWN_KIND', `kind tag 0x${kindTag.toString(16).padStart(2, '0')} is not defined in version 1`, kindAt);
  }
  const tenant = r.str('tenant');
  const instanceId = r.str('instance_id');
  const tagAt = r.offset;
  const dataTag = r.u8('event_data tag');
  if (dataTag !== kindTag) {
    throw new ChainError(
      'TAG_MISMATCH',
      `event_data tag 0x${dataTag.toString(16).padStart(2, '0')} differs from kind 0x${kindTag.toString(16).padStart(2, '0')}`,
      tagAt,
    );
  }
  const data: Record<string, DataValue> = {};
  for (const spec of KIND_FIELDS[kind]) data[spec.name] = readField(r, spec, `data.${spec.name}`);
  r.end();
  return {
    chainId,
    sequence,
    sealedAtMs,
    observedAtMs,
    source,
    eventId,
    kind,
    tenant,
    instanceId,
    data: data as unknown as EventDataMap[typeof kind],
  } as ChainRecord;
}
