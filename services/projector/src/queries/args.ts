/**
 * Validation of query arguments. Everything here comes from API callers:
 * bad ids, ranges and pages become HwlError('INVALID_ARGUMENT') with a
 * message (gRPC INVALID_ARGUMENT / HTTP 400), never a database error.
 */
import { FORBIDDEN_CONTROL_RE, isValidChainId } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';

export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 100;

export interface PageRequest {
  /** 1..1000, default 100. */
  limit?: number;
  /** Opaque cursor from a previous page's nextCursor. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  /** Present when more items follow; pass it back as `cursor`. */
  nextCursor?: string;
}

const bad = (msg: string): HwlError => new HwlError('INVALID_ARGUMENT', msg);

export function chainIdArg(v: unknown, what = 'chain_id'): string {
  if (!isValidChainId(v)) throw bad(`${what} must match [A-Za-z0-9][A-Za-z0-9_-]{0,127}`);
  return v;
}

/** A job id, request id, device id or tenant: 1..256 bytes, no control characters but the chain's (tab, LF, CR). */
export function keyArg(v: unknown, what: string, allowEmpty = false): string {
  if (typeof v !== 'string') throw bad(`${what} must be a string`);
  if (!allowEmpty && v.length === 0) throw bad(`${what} must not be empty`);
  if (Buffer.byteLength(v, 'utf8') > 256) throw bad(`${what} is longer than 256 bytes`);
  // What the chain accepts: every sealed id (and a page cursor ending on one) can be looked up.
  if (FORBIDDEN_CONTROL_RE.test(v)) throw bad(`${what} contains control characters`);
  return v;
}

/** Unix ms as a non-negative integer (number, bigint or decimal string) below 2^63. */
export function msArg(v: unknown, what: string): bigint {
  let n: bigint;
  if (typeof v === 'bigint') n = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
  else if (typeof v === 'string' && /^[0-9]{1,19}$/.test(v)) n = BigInt(v);
  else throw bad(`${what} must be a non-negative integer of unix milliseconds`);
  if (n < 0n || n > 2n ** 63n - 1n) throw bad(`${what} is out of range`);
  return n;
}

export function pageArg(p: PageRequest | undefined): {
  limit: number;
  cursor: string | undefined;
} {
  const limit = p?.limit ?? DEFAULT_PAGE;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) throw bad(`page limit must be an integer in 1..${MAX_PAGE}`);
  const cursor = p?.cursor;
  if (cursor !== undefined && (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > 1024)) throw bad('page cursor is malformed');
  return { limit, cursor: cursor === '' ? undefined : cursor };
}

/** Cursors are base64url JSON arrays of strings; a tampered one is INVALID_ARGUMENT. */
export function encodeCursor(parts: string[]): string {
  return Buffer.from(JSON.stringify(parts), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, n: number): string[] {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    // fall through
  }
  throw bad('page cursor is malformed');
}

export function seqCursorPart(s: string): string {
  // A sequence is a bigint column (i64): 19 digits can exceed it.
  if (!/^[0-9]{1,19}$/.test(s) || BigInt(s) > 2n ** 63n - 1n) throw bad('page cursor is malformed');
  return s;
}
