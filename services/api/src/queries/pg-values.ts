/** node-postgres returns numeric and bigint as decimal strings; these turn them into exact bigint. */
import { HwlError } from '@hwledger/core';

type PgNumber = string | number | bigint | null | undefined;

/** An integer column or sum; null is 0. Non-integers are a schema violation (money is integer micro-USD). */
export function big(v: PgNumber): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new HwlError('INTERNAL', `expected an integer, read ${v}`);
    return BigInt(v);
  }
  const m = /^(-?[0-9]+)(?:\.0*)?$/.exec(v);
  if (!m?.[1]) throw new HwlError('INTERNAL', `expected an integer, read ${JSON.stringify(v)}`);
  return BigInt(m[1]);
}

export function bytes(v: Buffer | Uint8Array | null | undefined): Uint8Array {
  return v ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(0);
}
