/**
 * Opaque page tokens: base64url of {v, s, k} where `s` binds the token to the
 * query that issued it (a token of one audit trail cannot page another) and
 * `k` holds the keyset position (strings). Tokens are untrusted input: any
 * malformed, foreign or stale token is INVALID_ARGUMENT, never a 500. A
 * forged but well-formed token only moves the position inside data the
 * caller may read anyway (every query re-applies the access filter).
 */
import { createHash } from 'node:crypto';
import { HwlError } from '@hwledger/core';

const MAX_TOKEN_LENGTH = 2048;

function scopeTag(scope: string): string {
  return createHash('sha256').update(scope).digest('base64url').slice(0, 12);
}

export function encodePageToken(scope: string, position: string[]): string {
  return Buffer.from(JSON.stringify({ v: 1, s: scopeTag(scope), k: position }), 'utf8').toString('base64url');
}

/** The keyset position of a token, or undefined for an empty token (first page). */
export function decodePageToken(token: string, scope: string, arity: number): string[] | undefined {
  if (token === '') return undefined;
  const bad = (why: string): HwlError => new HwlError('INVALID_ARGUMENT', `page_token: ${why}`);
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw bad('malformed');
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw bad('malformed');
  }
  if (typeof json !== 'object' || json === null) throw bad('malformed');
  const o = json as Record<string, unknown>;
  if (o['v'] !== 1 || typeof o['s'] !== 'string' || !Array.isArray(o['k'])) throw bad('malformed');
  if (o['s'] !== scopeTag(scope)) throw bad('issued for another query');
  const k = o['k'] as unknown[];
  if (k.length !== arity || !k.every((x): x is string => typeof x === 'string')) throw bad('malformed');
  return k;
}

/** Parses a decimal position member (sequence numbers). */
export function positionBigint(v: string | undefined): bigint {
  if (v === undefined || !/^(0|[1-9][0-9]{0,18})$/.test(v)) throw new HwlError('INVALID_ARGUMENT', 'page_token: malformed');
  const n = BigInt(v);
  if (n > (1n << 63n) - 1n) throw new HwlError('INVALID_ARGUMENT', 'page_token: malformed');
  return n;
}
