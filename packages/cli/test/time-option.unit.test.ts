/**
 * `--from`/`--to` of `hwledger tenants` and `cost`: one instant whatever the
 * machine's time zone. A time without a UTC offset was read in the local
 * zone (Date.parse), so the same command summed billing windows hours apart
 * on a laptop and on a server (found by a review helper); it is now refused,
 * as price books refuse it (core's parseUtcIsoTime).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { timeOption } from '../src/api-connection.js';

const saved = process.env['TZ'];
afterEach(() => {
  if (saved === undefined) delete process.env['TZ'];
  else process.env['TZ'] = saved;
});

const parse = timeOption('--from');
const outcome = (v: string): bigint | string => {
  try {
    return parse(v);
  } catch (e) {
    return `refused: ${(e as Error).message}`;
  }
};

describe('CLI --from/--to', () => {
  it('reads unix ms, a UTC-offset time or a date (UTC midnight), the same in every time zone', () => {
    const cases: [string, bigint][] = [
      ['1793491200000', 1_793_491_200_000n],
      ['2026-11-01', BigInt(Date.UTC(2026, 10, 1))],
      ['2026-11-01T00:00Z', BigInt(Date.UTC(2026, 10, 1))],
      ['2026-11-01T00:00:00.000Z', BigInt(Date.UTC(2026, 10, 1))],
      ['2026-11-01T02:00:00+02:00', BigInt(Date.UTC(2026, 10, 1))],
    ];
    for (const tz of ['UTC', 'America/New_York', 'Asia/Kolkata']) {
      process.env['TZ'] = tz;
      for (const [v, ms] of cases) expect(outcome(v), `${v} in ${tz}`).toBe(ms);
    }
  });

  it('refuses a time without its UTC offset, other date forms, impossible dates and negatives (exit 2)', () => {
    for (const tz of ['UTC', 'America/New_York']) {
      process.env['TZ'] = tz;
      for (const v of ['2026-11-01T00:00', '2026-11-01T00:00:00', 'Nov 1 2026', '2026-02-30', '2026-11-01T24:00Z', '-5', '', 'now']) {
        expect(outcome(v), `${v} in ${tz}`).toMatch(/^refused: --from must be unix milliseconds, an ISO 8601 time with its UTC offset/);
      }
    }
  });
});
