/**
 * A price book's effective_from decides which hour windows it rates, so the
 * same book file must mean the same instant wherever `hwledger pricing set`
 * runs: a time without an explicit UTC offset (which JavaScript reads in the
 * process's local time zone) or a date that does not exist is refused, never
 * silently shifted.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parsePriceBookJson } from '@hwledger/projector';

const rates = { gpu_hour_micro_usd: { '*': 1 }, token_micro_usd_per_mtok: { '*': 1 } };
const UTC_2026_11_01 = 1_793_491_200_000n;

describe('price book effective_from and the local time zone', () => {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env['TZ'];
    process.env['TZ'] = 'America/New_York';
  });
  afterEach(() => {
    if (saved === undefined) delete process.env['TZ'];
    else process.env['TZ'] = saved;
  });

  it('reads explicit UTC forms the same in every time zone', () => {
    for (const s of ['2026-11-01T00:00:00Z', '2026-11-01T00:00:00.000Z', '2026-11-01T01:00:00+01:00', '2026-11-01']) {
      expect(parsePriceBookJson({ effective_from: s, ...rates }).effectiveFromMs).toBe(UTC_2026_11_01);
    }
  });

  it.each(['2026-11-01T00:00:00', '2026-11-01T00:00', 'Nov 1 2026', 'Sun, 01 Nov 2026 00:00:00', '2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z'])(
    'refuses %j (local time or no such date) instead of shifting it',
    (s) => {
      let got: unknown;
      try {
        got = parsePriceBookJson({ effective_from: s, ...rates }).effectiveFromMs;
      } catch (e) {
        expect(e).toMatchObject({ code: 'INVALID_ARGUMENT' });
        return;
      }
      // Accepting it is only right if it means the UTC instant the text names (it cannot: there is none).
      expect.fail(`accepted ${JSON.stringify(s)} as ${String(got)} (${new Date(Number(got)).toISOString()})`);
    },
  );
});
