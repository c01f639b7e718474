/**
 * A second, deliberately naive encoder written straight from the tables of
 * shared/spec/chain-format.md ("Record: canonical bytes", "Event variants"),
 * sharing no code with src/. Tests use it to cross-check encodeRecord and to
 * build canonical bytes the library would refuse to write (raw invalid UTF-8,
 * unknown versions and tags) to probe the decoder.
 */
import type { ChainRecord } from '@hwledger/chain';

export type WireType = 'u8' | 'u32' | 'i32' | 'u64' | 'str';
/** A `str` may be given as raw bytes (to place invalid UTF-8 on the wire). */
export type WireValue = number | bigint | string | Uint8Array;

export interface WireField {
  name: string;
  type: WireType;
  value: WireValue;
}

/** The spec's variant table, copied by hand (tag, then fields in order). */
export const SPEC_VARIANTS: Record<string, { tag: number; fields: [string, WireType][] }> = {
  device_registered: {
    tag: 0x01,
    fields: [
      ['device_id', 'str'],
      ['hostname', 'str'],
      ['device_type', 'str'],
      ['vram_total_mib', 'u64'],
    ],
  },
  job_dispatched: {
    tag: 0x02,
    fields: [
      ['job_id', 'str'],
      ['device_id', 'str'],
      ['model_id', 'str'],
      ['vram_requested_mib', 'u64'],
      ['predicted_cost_micro_usd', 'u64'],
    ],
  },
  job_completed: {
    tag: 0x03,
    fields: [
      ['job_id', 'str'],
      ['tokens_generated', 'u32'],
      ['duration_ms', 'u64'],
      ['actual_vram_mib', 'u64'],
      ['cost_micro_usd', 'u64'],
    ],
  },
  job_failed: {
    tag: 0x04,
    fields: [
      ['job_id', 'str'],
      ['error_message', 'str'],
    ],
  },
  metrics_collected: {
    tag: 0x05,
    fields: [
      ['device_id', 'str'],
      ['vram_used_mib', 'u64'],
      ['vram_total_mib', 'u64'],
      ['utilization_pct', 'u32'],
      ['temperature_mc', 'i32'],
      ['power_mw', 'u32'],
    ],
  },
  inference_request_completed: {
    tag: 0x0c,
    fields: [
      ['tenant_id', 'str'],
      ['request_id', 'str'],
      ['total_tokens', 'u32'],
      ['compute_ms', 'u64'],
      ['reason', 'str'],
    ],
  },
};

/** The record's fields in wire order, named as in the spec (`data.<name>` for variant fields). */
export function specFields(r: ChainRecord): WireField[] {
  const variant = SPEC_VARIANTS[r.kind];
  if (!variant) throw new Error(`no such kind ${r.kind}`);
  const data = r.data as unknown as Record<string, WireValue>;
  return [
    { name: 'format_version', type: 'u8', value: 1 },
    { name: 'chain_id', type: 'str', value: r.chainId },
    { name: 'sequence', type: 'u64', value: r.sequence },
    { name: 'sealed_at_ms', type: 'u64', value: r.sealedAtMs },
    { name: 'observed_at_ms', type: 'u64', value: r.observedAtMs },
    { name: 'source', type: 'str', value: r.source },
    { name: 'event_id', type: 'str', value: r.eventId },
    { name: 'kind', type: 'u8', value: variant.tag },
    { name: 'tenant', type: 'str', value: r.tenant },
    { name: 'instance_id', type: 'str', value: r.instanceId },
    { name: 'event_data tag', type: 'u8', value: variant.tag },
    ...variant.fields.map(([name, type]): WireField => ({ name: `data.${name}`, type, value: data[name]! })),
  ];
}

/** Serialises fields big-endian, `str` as u32 byte length + bytes. */
export function packFields(fields: readonly WireField[]): Uint8Array {
  const parts: number[] = [];
  const push = (n: number, bytes: number, signed = false): void => {
    const b = Buffer.alloc(bytes);
    if (bytes === 1) b.writeUInt8(n);
    else if (signed) b.writeInt32BE(n);
    else b.writeUInt32BE(n);
    parts.push(...b);
  };
  for (const f of fields) {
    switch (f.type) {
      case 'u8':
        push(f.value as number, 1);
        break;
      case 'u32':
        push(f.value as number, 4);
        break;
      case 'i32':
        push(f.value as number, 4, true);
        break;
      case 'u64': {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(f.value as bigint);
        parts.push(...b);
        break;
      }
      case 'str': {
        const bytes = typeof f.value === 'string' ? Buffer.from(f.value, 'utf8') : f.value;
        if (!(bytes instanceof Uint8Array)) throw new Error(`${f.name}: not a string`);
        push(bytes.length, 4);
        parts.push(...bytes);
        break;
      }
    }
  }
  return Uint8Array.from(parts);
}

/** Canonical bytes of `r` by the spec tables, with some fields replaced. */
export function specEncode(r: ChainRecord, replace: Record<string, WireValue> = {}): Uint8Array {
  return packFields(specFields(r).map((f) => (f.name in replace ? { ...f, value: replace[f.name]! } : f)));
}
