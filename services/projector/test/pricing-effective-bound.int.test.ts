/**
 * effective_from past the latest time a date can hold (8.64e15 ms, year
 * 275760). Found in a review: the parser accepted up to 16 decimal digits,
 * but priceBookToJson renders every book with new Date(ms).toISOString(),
 * which throws past that bound, so one such book, stored by `hwledger
 * pricing set`, made `hwledger pricing list` fail for every book from then
 * on (versions are append-only: it could not be removed). Now the parser
 * refuses it; the bound itself is accepted and listed. Real Postgres.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@hwledger/testkit';
import { listPriceBooks, migrate, parsePriceBookJson, priceBookToJson, setPriceBook } from '@hwledger/projector';

const db = useTestDatabase({ prefix: 'hwl_pricing_bound', setup: (pool) => migrate(pool) });

describe('price book effective_from near the Date bound', () => {
  it('past the bound is refused; at the bound it is stored and listed', async () => {
    // One hour past the largest instant a JS Date holds (16 digits, on a whole hour).
    expect(() => parsePriceBookJson({ effective_from: '8640003600000000', gpu_hour_micro_usd: { '*': 2 }, token_micro_usd_per_mtok: { '*': 2 } })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/later than the latest representable time/) }),
    );
    await setPriceBook(db.pool, parsePriceBookJson({ effective_from: 0, gpu_hour_micro_usd: { '*': 1 }, token_micro_usd_per_mtok: { '*': 1 } }));
    await setPriceBook(
      db.pool,
      parsePriceBookJson({ effective_from: '8640000000000000', gpu_hour_micro_usd: { '*': 2 }, token_micro_usd_per_mtok: { '*': 2 } }),
    );
    // `hwledger pricing list` prints each of them this way.
    const lines = (await listPriceBooks(db.pool)).map((b) => priceBookToJson(b));
    expect(lines.map((l) => l['effective_from_ms'])).toEqual(['0', '8640000000000000']);
  });
});
