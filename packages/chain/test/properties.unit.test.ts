/**
 * Properties (fast-check) over records of every kind with u64 values across
 * the whole range (past 2^53, where a JS number would round silently) and
 * arbitrary well-formed Unicode: canonical, JSON and hex round trips, the
 * library encoder against the spec-table encoder, and @noble/hashes SHA-256
 * against node:crypto.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ChainError,
  chainHash,
  decodeRecord,
  encodeRecord,
  eventFromJson,
  eventToJson,
  fromHex,
  genesisHash,
  hashFromHex,
  KIND_NAMES,
  recordFromJson,
  recordToJson,
  sha256,
  toHex,
  utf8Decode,
  utf8Encode,
} from '@hwledger/chain';
import { anyEvent, anyRecord, recordOf, text, u64 } from './support/arbitraries.js';
import { specEncode } from './support/spec-encoder.js';

const RUNS = 300;
const nodeSha256 = (...parts: Uint8Array[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe('canonical round trip', () => {
  for (const kind of KIND_NAMES) {
    it(`${kind}: decode(encode(r)) = r, and encode(r) = the spec-table encoding`, () => {
      fc.assert(
        fc.property(recordOf(kind), (r) => {
          const bytes = encodeRecord(r);
          expect(decodeRecord(bytes)).toStrictEqual(r);
          expect(toHex(bytes)).toBe(toHex(specEncode(r)));
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('draws u64 values above 2^53 and astral code points (the generators reach what they claim)', () => {
    const samples = fc.sample(fc.tuple(u64(), text()), 2000);
    expect(samples.some(([n]) => n > 2n ** 53n)).toBe(true);
    expect(samples.some(([n]) => n > 2n ** 63n)).toBe(true);
    expect(samples.some(([, s]) => [...s].some((c) => c.codePointAt(0)! > 0xffff))).toBe(true);
  });

  it('encoding is injective: different records, different bytes', () => {
    fc.assert(
      fc.property(anyRecord(), anyRecord(), (a, b) => {
        fc.pre(JSON.stringify(recordToJson(a)) !== JSON.stringify(recordToJson(b)));
        expect(toHex(encodeRecord(a))).not.toBe(toHex(encodeRecord(b)));
      }),
      { numRuns: RUNS },
    );
  });

  it('a lone surrogate anywhere in a string is refused (INVALID_UTF8), never replaced', () => {
    const lone = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(anyRecord(), text(), lone, text(), (r, a, s, b) => {
        const bad = { ...r, eventId: a + s + b };
        expect(() => encodeRecord(bad)).toThrowError(expect.objectContaining({ code: 'INVALID_UTF8' }) as Error);
      }),
      { numRuns: 100 },
    );
  });
});

describe('JSON round trip', () => {
  it('recordFromJson(JSON.parse(JSON.stringify(recordToJson(r)))) = r', () => {
    fc.assert(
      fc.property(anyRecord(), (r) => {
        const json = recordToJson(r);
        const text = JSON.stringify(json);
        expect(recordFromJson(JSON.parse(text))).toStrictEqual(r);
        // u64 are decimal strings: exact, whatever their size.
        expect(json.sequence).toBe(r.sequence.toString());
      }),
      { numRuns: RUNS },
    );
  });

  it('eventFromJson(eventToJson(e)) = e', () => {
    fc.assert(
      fc.property(anyEvent(), (e) => {
        expect(eventFromJson(JSON.parse(JSON.stringify(eventToJson(e))))).toStrictEqual(e);
      }),
      { numRuns: RUNS },
    );
  });

  it('a u64 written as a JSON number, with a sign, leading zeros or past 2^64 is refused', () => {
    const base = eventToJson(fc.sample(anyEvent(), 1)[0]!);
    for (const bad of [1763800000000, '-1', '01', '1e3', ' 1', '18446744073709551616', '']) {
      expect(() => eventFromJson({ ...base, observed_at_ms: bad })).toThrowError(ChainError);
    }
    expect(eventFromJson({ ...base, observed_at_ms: '18446744073709551615' }).observedAtMs).toBe(2n ** 64n - 1n);
  });
});

describe('hex round trip', () => {
  it('fromHex(toHex(b)) = b, and toHex agrees with Buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const hex = toHex(b);
        expect(hex).toBe(Buffer.from(b).toString('hex'));
        expect(fromHex(hex)).toStrictEqual(b);
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses odd length, uppercase and non-hex (INVALID_HEX)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), (b, k) => {
        const hex = toHex(b);
        const i = k % hex.length;
        expect(() => fromHex(hex.slice(1))).toThrowError(expect.objectContaining({ code: 'INVALID_HEX' }) as Error);
        for (const c of ['G', 'x', ' ', 'é']) {
          expect(() => fromHex(hex.slice(0, i) + c + hex.slice(i + 1))).toThrowError(expect.objectContaining({ code: 'INVALID_HEX' }) as Error);
        }
        if (/[a-f]/.test(hex)) expect(() => fromHex(hex.toUpperCase())).toThrowError(expect.objectContaining({ code: 'INVALID_HEX' }) as Error);
      }),
      { numRuns: 200 },
    );
    expect(() => hashFromHex('00'.repeat(31))).toThrowError(expect.objectContaining({ code: 'INVALID_HEX' }) as Error);
  });

  it('utf8Decode(utf8Encode(s)) = s and agrees with Buffer', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const bytes = utf8Encode(s);
        expect(toHex(bytes)).toBe(Buffer.from(s, 'utf8').toString('hex'));
        expect(utf8Decode(bytes)).toBe(s);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('@noble/hashes SHA-256 against node:crypto', () => {
  it('sha256 of random inputs (0..4 KiB, across block boundaries)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 4096 }),
          fc.integer({ min: 50, max: 70 }).map((n) => new Uint8Array(n).fill(0x61)),
        ),
        (b) => {
          expect(toHex(sha256(b))).toBe(nodeSha256(b));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('chainHash = SHA-256(prev_hash || canonical)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), anyRecord(), (prev, r) => {
        const canonical = encodeRecord(r);
        expect(toHex(chainHash(prev, canonical))).toBe(nodeSha256(prev, canonical));
      }),
      { numRuns: RUNS },
    );
  });

  it('chainHash refuses a prev_hash that is not 32 bytes', () => {
    expect(() => chainHash(new Uint8Array(31), new Uint8Array(1))).toThrowError(expect.objectContaining({ code: 'INVALID_FIELD' }) as Error);
  });

  it('genesis = SHA-256(UTF-8("hwledger/genesis/v1/" + chain_id)) for any chain id', () => {
    fc.assert(
      fc.property(text(64), (chainId) => {
        expect(toHex(genesisHash(chainId))).toBe(nodeSha256(Buffer.from(`hwledger/genesis/v1/${chainId}`, 'utf8')));
      }),
      { numRuns: RUNS },
    );
  });
});
