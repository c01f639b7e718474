/**
 * Adds a price book version and re-rates the windows it affects, in one
 * transaction under the exclusive pricing lock (lock.ts): from its
 * effective_from up to the next later effective_from (books effective later
 * stay in effect for their own windows).
 */
import type pg from 'pg';
import { loadPriceBooks, type PriceBook, type PriceBookInput } from './price-book.js';
import { PRICING_LOCK_KEY } from './lock.js';
import { rerateRange, type RerateResult } from './rerate.js';
import { inTransaction } from '../pg-client.js';

export interface SetPriceBookResult {
  version: number;
  reratedFromMs: bigint;
  /** End of the re-rated range (exclusive); null = open-ended. */
  reratedToMs: bigint | null;
  rerated: RerateResult;
}

export async function setPriceBook(pool: pg.Pool, input: PriceBookInput): Promise<SetPriceBookResult> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [PRICING_LOCK_KEY.toString()]);
    const ins = await client.query<{ version: number }>('INSERT INTO price_books (effective_from_ms, note) VALUES ($1, $2) RETURNING version', [
      input.effectiveFromMs.toString(),
      input.note ?? '',
    ]);
    const version = ins.rows[0]?.version;
    if (version === undefined) throw new Error('price book insert returned no version');
    const kinds: ['gpu_hour' | 'token', Map<string, bigint>][] = [
      ['gpu_hour', input.gpuHour],
      ['token', input.tokenPerMtok],
    ];
    for (const [kind, rates] of kinds) {
      await client.query(
        `INSERT INTO price_book_rates (version, rate_kind, rate_key, micro_usd)
         SELECT $1, $2, k, v FROM unnest($3::text[], $4::numeric[]) AS x(k, v)`,
        [version, kind, [...rates.keys()], [...rates.values()].map(String)],
      );
    }
    const next = await client.query<{ f: string | null }>('SELECT min(effective_from_ms) AS f FROM price_books WHERE effective_from_ms > $1', [
      input.effectiveFromMs.toString(),
    ]);
    const toMs = next.rows[0]?.f != null ? BigInt(next.rows[0].f) : null;
    const rerated = await rerateRange(client, input.effectiveFromMs, toMs);
    return {
      version,
      reratedFromMs: input.effectiveFromMs,
      reratedToMs: toMs,
      rerated,
    };
  });
}

export async function listPriceBooks(pool: pg.Pool): Promise<PriceBook[]> {
  return loadPriceBooks(pool);
}
