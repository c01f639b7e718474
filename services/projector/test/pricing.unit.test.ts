import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bookForWindow, gpuRate, parsePriceBookJson, rateLine, tokenRate, type PriceBook } from '@hwledger/projector';

const book = (version: number, eff: bigint, gpu: Record<string, bigint> = { '*': 1n }): PriceBook => ({
  version,
  effectiveFromMs: eff,
  note: '',
  gpuHour: new Map(Object.entries(gpu)),
  tokenPerMtok: new Map([['*', 7n]]),
});

describe('rateLine', () => {
  it('prices GPU time and tokens exactly, rounding half up once', () => {
    expect(rateLine(3_600_000n, 2_000_000n, 0n, 0n)).toBe(2_000_000n);
    expect(rateLine(0n, 0n, 1_000_000n, 500_000n)).toBe(500_000n);
    expect(rateLine(1n, 1_800_000n, 0n, 0n)).toBe(1n); // 0.5 -> 1
    expect(rateLine(1n, 1_799_999n, 0n, 0n)).toBe(0n); // 0.49999 -> 0
    expect(rateLine(2n ** 64n - 1n, 2n ** 53n, 2n ** 32n - 1n, 2n ** 53n)).toBeGreaterThan(2n ** 64n); // no overflow
  });

  it('equals round-half-up of the rational cost', () => {
    fc.assert(
      fc.property(fc.bigInt(0n, 2n ** 40n), fc.bigInt(0n, 10n ** 9n), fc.bigInt(0n, 2n ** 32n), fc.bigInt(0n, 10n ** 9n), (d, g, t, k) => {
        // cost = d*g/3.6e6 + t*k/1e6 = (d*g*1e6 + t*k*3.6e6) / 3.6e12
        const num = d * g * 1_000_000n + t * k * 3_600_000n;
        const den = 3_600_000_000_000n;
        const floor = num / den;
        const expected = (num - floor * den) * 2n >= den ? floor + 1n : floor;
        expect(rateLine(d, g, t, k)).toBe(expected);
      }),
    );
  });
});

describe('bookForWindow', () => {
  const books = [book(1, 0n), book(3, 0n), book(2, 7_200_000n)]; // ordered by (effective_from, version)
  it('picks the latest effective date, then the highest version', () => {
    expect(bookForWindow(books, 0n)?.version).toBe(3);
    expect(bookForWindow(books, 3_600_000n)?.version).toBe(3);
    expect(bookForWindow(books, 7_200_000n)?.version).toBe(2);
    expect(bookForWindow([book(1, 3_600_000n)], 0n)).toBeUndefined();
  });
  it('falls back to the default rate', () => {
    const b = book(1, 0n, { '*': 5n, H100: 9n });
    expect(gpuRate(b, 'H100')).toBe(9n);
    expect(gpuRate(b, 'L4')).toBe(5n);
    expect(gpuRate(b, null)).toBe(5n);
    expect(tokenRate(b, 'x')).toBe(7n);
  });
});

describe('parsePriceBookJson', () => {
  const ok = { effective_from: '2026-11-22T10:00:00Z', gpu_hour_micro_usd: { '*': 1 }, token_micro_usd_per_mtok: { '*': '2' } };
  it('accepts ISO times, ms and decimal strings', () => {
    expect(parsePriceBookJson(ok).effectiveFromMs).toBe(BigInt(Date.parse('2026-11-22T10:00:00Z')));
    expect(parsePriceBookJson({ ...ok, effective_from: undefined, effective_from_ms: 3_600_000 }).effectiveFromMs).toBe(3_600_000n);
    expect(parsePriceBookJson(ok).tokenPerMtok.get('*')).toBe(2n);
  });
  it.each([
    [{ ...ok, effective_from: '2026-11-22T10:30:00Z' }, 'whole hour'],
    [{ ...ok, gpu_hour_micro_usd: { H100: 1 } }, 'default rate'],
    [{ ...ok, gpu_hour_micro_usd: { '*': 1.5 } }, 'non-negative integer'],
    [{ ...ok, gpu_hour_micro_usd: { '*': '-1' } }, 'non-negative integer'],
    [{ ...ok, extra: 1 }, 'unknown member'],
    [{ ...ok, effective_from: 'yesterday' }, 'effective_from'],
    [[], 'JSON object'],
  ])('rejects %j', (input, msg) => {
    expect(() => parsePriceBookJson(input)).toThrow(msg);
  });
});
