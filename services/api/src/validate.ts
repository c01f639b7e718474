/**
 * Input validation at the API boundary. Every request field is untrusted
 * (threat: a crafted id, range or page token that reaches Postgres as a
 * malformed value and turns into a 500, or scans far more than intended).
 * Each parser throws HwlError('INVALID_ARGUMENT') naming the field, which both
 * transports answer as INVALID_ARGUMENT / HTTP 400.
 */
import { FORBIDDEN_CONTROL_RE, isValidChainId, isWellFormed, SUBJECT_TOKEN_RE } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';

/** Largest value of Postgres bigint (sequence and sealed_at_ms columns). */
export const I64_MAX = (1n << 63n) - 1n;
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** Identifier strings on the chain are at most 256 UTF-8 bytes (DEFAULT_LIMITS.maxIdBytes). */
export const MAX_ID_BYTES = 256;
/**
 * Latest time a range may name: the last whole UTC day below 2^63 ms, so that
 * widening a range to whole hours or days never leaves Postgres bigint.
 */
export const MAX_TIME_MS = (I64_MAX / 86_400_000n) * 86_400_000n;
/**
 * The end of a range given without one ("all time"): every window a record
 * can fall in, up to 2^63 - 1 ms (the projector stores sealed_at_ms up to it).
 * MAX_TIME_MS would leave out the last partial day below it.
 */
export const OPEN_END_MS = I64_MAX;
/** The API's name for the empty tenant (records without identity.tenant), as in chain subjects. */
export const NO_TENANT = '_';

function bad(message: string): HwlError {
  return new HwlError('INVALID_ARGUMENT', message);
}

export function parseChainId(v: string, fallback: string, field = 'chain_id'): string {
  if (v === '') return fallback;
  if (!isValidChainId(v)) throw bad(`${field}: not a chain id (letters, digits, '-' and '_', at most 128)`);
  return v;
}

/** A job id, request id, device id or other identifier of the chain. */
export function parseId(v: string, field: string): string {
  if (v === '') throw bad(`${field}: required`);
  if (!isWellFormed(v)) throw bad(`${field}: not well-formed UTF-8`);
  if (Buffer.byteLength(v, 'utf8') > MAX_ID_BYTES) throw bad(`${field}: longer than ${MAX_ID_BYTES} bytes`);
  // What the chain accepts (tab, LF and CR may be in an id): every sealed id can be looked up.
  if (FORBIDDEN_CONTROL_RE.test(v)) throw bad(`${field}: contains control characters`);
  return v;
}

/** A tenant as the API names it; returns the stored tenant ('' for `_`). */
export function parseTenant(v: string, field = 'tenant'): string {
  if (v === NO_TENANT) return '';
  if (!SUBJECT_TOKEN_RE.test(v)) throw bad(`${field}: not a tenant (${SUBJECT_TOKEN_RE.source}, or ${NO_TENANT} for records without a tenant)`);
  return v;
}

/** The API's name of a stored tenant. */
export function tenantName(stored: string): string {
  return stored === '' ? NO_TENANT : stored;
}

export function parsePageSize(v: number): number {
  if (!Number.isInteger(v) || v < 0) throw bad('page_size: expected a non-negative integer');
  if (v === 0) return DEFAULT_PAGE_SIZE;
  if (v > MAX_PAGE_SIZE) throw bad(`page_size: at most ${MAX_PAGE_SIZE}, got ${v}`);
  return v;
}

export interface TimeRange {
  fromMs: bigint;
  /** Exclusive; undefined = no upper bound. */
  toMs: bigint | undefined;
}

/** [from_ms, to_ms) of chain time; to_ms 0 means no upper bound. */
export function parseRange(fromMs: bigint, toMs: bigint): TimeRange {
  if (fromMs < 0n || fromMs >= MAX_TIME_MS) throw bad(`from_ms: out of range (below ${MAX_TIME_MS})`);
  if (toMs < 0n || toMs > MAX_TIME_MS) throw bad(`to_ms: out of range (at most ${MAX_TIME_MS})`);
  if (toMs === 0n) return { fromMs, toMs: undefined };
  if (toMs <= fromMs) throw bad(`to_ms (${toMs}) must be greater than from_ms (${fromMs})`);
  return { fromMs, toMs };
}

/** A sequence number in a request (0 allowed, meaning "default"). */
export function parseSequence(v: bigint, field: string): bigint {
  if (v < 0n || v > I64_MAX) throw bad(`${field}: out of range`);
  return v;
}

const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;

/** A u64 query parameter of the HTTP API (decimal digits only). */
export function parseU64Param(v: string | null, field: string): bigint {
  if (v === null || v === '') return 0n;
  if (!DECIMAL.test(v)) throw bad(`${field}: expected a non-negative decimal integer`);
  const n = BigInt(v);
  if (n > I64_MAX) throw bad(`${field}: out of range`);
  return n;
}

/** A u32 query parameter of the HTTP API. */
export function parseU32Param(v: string | null, field: string): number {
  if (v === null || v === '') return 0;
  if (!/^(0|[1-9][0-9]{0,9})$/.test(v)) throw bad(`${field}: expected a non-negative decimal integer`);
  const n = Number(v);
  if (n > 0xffffffff) throw bad(`${field}: out of range`);
  return n;
}
