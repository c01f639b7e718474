/**
 * JSON form of the API's messages over HTTP: the proto3 JSON member names
 * (lowerCamelCase) with every member present, u64 as decimal strings (the
 * spec's JSON form), bytes as lowercase hex. `fromJSON` of the generated
 * message types reads it back (the CLI does).
 */
export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

export function toJson(v: unknown): Json {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (v === null || v === undefined) return null;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(toJson);
  if (typeof v === 'object') {
    const out: { [k: string]: Json } = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toJson(x);
    return out;
  }
  return null;
}
