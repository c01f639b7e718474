/** Turns query results into JSON-safe values: bigint becomes a decimal string (the spec's JSON form of u64). */
export type JsonSafe<T> = T extends bigint
  ? string
  : T extends Date
    ? string
    : T extends Uint8Array
      ? string
      : T extends (infer U)[]
        ? JsonSafe<U>[]
        : T extends object
          ? { [K in keyof T]: JsonSafe<T[K]> }
          : T;

export function toJsonSafe<T>(value: T): JsonSafe<T> {
  return convert(value) as JsonSafe<T>;
}

function convert(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(convert);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = convert(x);
    return out;
  }
  return v;
}
