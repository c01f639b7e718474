/**
 * Versioned, effective-dated price books (seed 003: "a pricing function
 * applied at aggregation time"). A book is in effect for an hour window when
 * it has the greatest effective_from_ms <= window start; among books with the
 * same effective_from_ms the highest version wins (a correction).
 */
import type pg from 'pg';
import { HwlError, parseUtcIsoTime } from '@hwledger/core';
import { HOUR_MS } from '../windows.js';

export const DEFAULT_RATE_KEY = '*';

export interface PriceBook {
  version: number;
  effectiveFromMs: bigint;
  note: string;
  createdAt?: Date;
  /** micro-USD per GPU hour, by device_type ('*' = default). */
  gpuHour: Map<string, bigint>;
  /** micro-USD per million tokens, by model_id ('*' = default). */
  tokenPerMtok: Map<string, bigint>;
}

/** A price book as given to `setPriceBook` (before it has a version). */
export interface PriceBookInput {
  effectiveFromMs: bigint;
  note?: string;
  gpuHour: Map<string, bigint>;
  tokenPerMtok: Map<string, bigint>;
}

/** Loads every book with its rates, ordered by (effective_from_ms, version). */
export async function loadPriceBooks(db: pg.Pool | pg.PoolClient): Promise<PriceBook[]> {
  const books = await db.query<{
    version: number;
    effective_from_ms: string;
    note: string;
    created_at: Date;
  }>('SELECT version, effective_from_ms, note, created_at FROM price_books ORDER BY effective_from_ms, version');
  const rates = await db.query<{
    version: number;
    rate_kind: string;
    rate_key: string;
    micro_usd: string;
  }>('SELECT version, rate_kind, rate_key, micro_usd FROM price_book_rates');
  const byVersion = new Map<number, PriceBook>();
  const out: PriceBook[] = [];
  for (const b of books.rows) {
    const book: PriceBook = {
      version: b.version,
      effectiveFromMs: BigInt(b.effective_from_ms),
      note: b.note,
      createdAt: b.created_at,
      gpuHour: new Map(),
      tokenPerMtok: new Map(),
    };
    byVersion.set(b.version, book);
    out.push(book);
  }
  for (const r of rates.rows) {
    const book = byVersion.get(r.version);
    if (!book) continue;
    (r.rate_kind === 'gpu_hour' ? book.gpuHour : book.tokenPerMtok).set(r.rate_key, BigInt(r.micro_usd));
  }
  return out;
}

/**
 * The book in effect for the hour window starting at `windowStartMs`
 * (`books` ordered by effective_from_ms, version), or undefined.
 */
export function bookForWindow(books: readonly PriceBook[], windowStartMs: bigint): PriceBook | undefined {
  let found: PriceBook | undefined;
  for (const b of books) {
    if (b.effectiveFromMs > windowStartMs) break;
    found = b; // later entries have a greater effective_from or, on a tie, a higher version
  }
  return found;
}

export function gpuRate(book: PriceBook, deviceType: string | null | undefined): bigint {
  return (deviceType != null ? book.gpuHour.get(deviceType) : undefined) ?? book.gpuHour.get(DEFAULT_RATE_KEY) ?? 0n;
}

export function tokenRate(book: PriceBook, modelId: string | null | undefined): bigint {
  return (modelId != null ? book.tokenPerMtok.get(modelId) : undefined) ?? book.tokenPerMtok.get(DEFAULT_RATE_KEY) ?? 0n;
}

const MAX_RATE = 2n ** 53n;

function parseAmount(v: unknown, path: string): bigint {
  let n: bigint;
  if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
  else if (typeof v === 'string' && /^(0|[1-9][0-9]{0,17})$/.test(v)) n = BigInt(v);
  else throw new HwlError('INVALID_ARGUMENT', `${path}: expected a non-negative integer (micro-USD), as a number or decimal string`);
  if (n < 0n || n > MAX_RATE) throw new HwlError('INVALID_ARGUMENT', `${path}: out of range`);
  return n;
}

function parseRates(v: unknown, path: string): Map<string, bigint> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HwlError('INVALID_ARGUMENT', `${path}: expected an object of key -> micro-USD`);
  const out = new Map<string, bigint>();
  for (const [k, x] of Object.entries(v)) {
    if (k.length === 0 || k.length > 256) throw new HwlError('INVALID_ARGUMENT', `${path}: keys must be 1..256 characters`);
    out.set(k, parseAmount(x, `${path}.${k}`));
  }
  if (!out.has(DEFAULT_RATE_KEY)) throw new HwlError('INVALID_ARGUMENT', `${path}: must define the default rate "${DEFAULT_RATE_KEY}"`);
  return out;
}

function parseEffective(v: unknown): bigint {
  let ms: bigint | undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) ms = BigInt(v);
  else if (typeof v === 'string' && /^[0-9]{1,16}$/.test(v)) ms = BigInt(v);
  else if (typeof v === 'string') ms = parseUtcIsoTime(v);
  if (ms === undefined)
    throw new HwlError(
      'INVALID_ARGUMENT',
      'effective_from: expected unix ms (number or decimal string) or an ISO 8601 time with its UTC offset (e.g. 2026-11-01T00:00:00Z)',
    );
  if (ms < 0n) throw new HwlError('INVALID_ARGUMENT', 'effective_from: must not be negative');
  // The latest time a date can hold (ECMAScript: 8.64e15 ms, year 275760): a later book was stored
  // and then broke `pricing list` for every book, which cannot be removed (found in a review).
  if (ms > 8_640_000_000_000_000n)
    throw new HwlError('INVALID_ARGUMENT', 'effective_from: later than the latest representable time (8640000000000000 ms, year 275760)');
  if (ms % HOUR_MS !== 0n) throw new HwlError('INVALID_ARGUMENT', 'effective_from: must be on a whole hour (UTC): books apply to hour windows');
  return ms;
}

/**
 * Parses the JSON form of a price book (`hwledger pricing set --file`):
 *   { "effective_from": "2026-11-01T00:00:00Z" | 1761955200000,
 *     "note": "…",
 *     "gpu_hour_micro_usd": { "*": 2000000, "H100": 4000000 },
 *     "token_micro_usd_per_mtok": { "*": 500000, "llama-70b": 900000 } }
 */
export function parsePriceBookJson(input: unknown): PriceBookInput {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new HwlError('INVALID_ARGUMENT', 'price book: expected a JSON object');
  const o = input as Record<string, unknown>;
  const allowed = new Set(['effective_from', 'effective_from_ms', 'note', 'gpu_hour_micro_usd', 'token_micro_usd_per_mtok']);
  for (const k of Object.keys(o)) if (!allowed.has(k)) throw new HwlError('INVALID_ARGUMENT', `price book: unknown member ${JSON.stringify(k)}`);
  const eff = o['effective_from'] ?? o['effective_from_ms'];
  if (eff === undefined) throw new HwlError('INVALID_ARGUMENT', 'price book: effective_from is required');
  const note = o['note'] ?? '';
  if (typeof note !== 'string' || note.length > 1000) throw new HwlError('INVALID_ARGUMENT', 'price book: note must be a string of at most 1000 characters');
  return {
    effectiveFromMs: parseEffective(eff),
    note,
    gpuHour: parseRates(o['gpu_hour_micro_usd'], 'gpu_hour_micro_usd'),
    tokenPerMtok: parseRates(o['token_micro_usd_per_mtok'], 'token_micro_usd_per_mtok'),
  };
}

/** The JSON form of a stored book (u64 as decimal strings). */
export function priceBookToJson(b: PriceBook): Record<string, unknown> {
  return {
    version: b.version,
    effective_from_ms: b.effectiveFromMs.toString(),
    effective_from: new Date(Number(b.effectiveFromMs)).toISOString(),
    note: b.note,
    created_at: b.createdAt?.toISOString(),
    gpu_hour_micro_usd: Object.fromEntries([...b.gpuHour].map(([k, v]) => [k, v.toString()])),
    token_micro_usd_per_mtok: Object.fromEntries([...b.tokenPerMtok].map(([k, v]) => [k, v.toString()])),
  };
}
