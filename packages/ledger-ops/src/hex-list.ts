/** Lists of 32-byte hashes as one lowercase hex string (headers, KV values, bundles). */
import { fromHex, toHex } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';

export function encodeHashList(hashes: readonly Uint8Array[]): string {
  return hashes.map(toHex).join('');
}

export function decodeHashList(text: string | undefined, what: string): Uint8Array[] {
  if (text === undefined || text === '') return [];
  if (text.length % 64 !== 0) throw new HwlError('INTEGRITY', `${what}: not a list of 32-byte hex hashes`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < text.length; i += 64) {
    try {
      out.push(fromHex(text.slice(i, i + 64), what));
    } catch {
      throw new HwlError('INTEGRITY', `${what}: not lowercase hex`);
    }
  }
  return out;
}
