/**
 * Byte helpers: hex, UTF-8 (strict), concatenation and constant-time compare.
 * Only `Uint8Array` crosses this boundary.
 */
import { ChainError } from './errors.js';

const HEX = '0123456789abcdef';
const HEX_PAIRS: string[] = Array.from({ length: 256 }, (_, i) => HEX[i >> 4]! + HEX[i & 15]!);

/** Lowercase hex, as the spec writes hashes and canonical bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX_PAIRS[bytes[i]!]!;
  return out;
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

/**
 * Parses lowercase hex. Attacker-controlled input (CLI stdin, export files,
 * headers): rejects odd length, uppercase and non-hex characters.
 */
export function fromHex(hex: string, what = 'hex'): Uint8Array {
  if (hex.length % 2 !== 0) throw new ChainError('INVALID_HEX', `${what}: odd number of hex digits`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(hex.charCodeAt(2 * i));
    const lo = nibble(hex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) {
      throw new ChainError('INVALID_HEX', `${what}: not lowercase hex`, 2 * i);
    }
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Parses a 32-byte SHA-256 digest written as 64 lowercase hex digits. */
export function hashFromHex(hex: string, what = 'hash'): Uint8Array {
  if (hex.length !== 64) throw new ChainError('INVALID_HEX', `${what}: expected 64 hex digits, got ${hex.length}`);
  return fromHex(hex, what);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Constant-time equality for digests: the running time depends only on the
 * lengths, never on where the first differing byte is.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Encodes a JS string as UTF-8. JS strings may hold lone surrogates, which
 * have no UTF-8 form (TextEncoder would silently write U+FFFD): reject them so
 * that what is hashed is exactly what the producer meant.
 */
export function utf8Encode(s: string, what = 'string'): Uint8Array {
  if (!isWellFormed(s)) throw new ChainError('INVALID_UTF8', `${what}: contains a lone surrogate`);
  return encoder.encode(s);
}

/** Decodes UTF-8, rejecting overlongs, surrogates and invalid sequences. */
export function utf8Decode(bytes: Uint8Array, what = 'string', at?: number): string {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    throw new ChainError('INVALID_UTF8', `${what}: not well-formed UTF-8`, at);
  }
}

/**
 * UTF-8 byte length of a well-formed string, computed without encoding it
 * (the sequencer measures every string of every event; allocating an
 * encoded copy just to take its length dominated validation).
 */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      i++; // a surrogate pair: two UTF-16 units, four bytes
      n += 2;
    } else n += 2;
  }
  return n;
}

/** `String.prototype.isWellFormed` where present (Node 20+), else a scan. */
export function isWellFormed(s: string): boolean {
  const f = (s as { isWellFormed?: () => boolean }).isWellFormed;
  if (typeof f === 'function') return f.call(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}
