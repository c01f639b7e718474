/**
 * The addon's sealLink (packages/native-hash/src/record-link.c) against the
 * TypeScript it replaces on the fast path: for any record bytes, key and
 * numbers, the same current_hash as SHA-256(prev_hash || canonical) and the
 * same header block, byte for byte, as encodeRecordHeaders; across a run of
 * records the Nats-Expected-Last-Msg-Id is always the previous record's
 * Nats-Msg-Id; bad arguments are refused before anything is written.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { nativeSealLink, type SealLink } from '@hwledger/native-hash';
import { encodeRecordHeaders } from '@hwledger/sequencer';
import { LINK_HASH_AT, LINK_KEY_AT, LINK_LAST_ID_AT, recordLinkMaxHeader, recordLinkState } from '../src/record-headers.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

describe.skipIf(process.env['HWL_NATIVE_HASH'] === '0' || process.env['HWL_NATIVE_INGEST'] === '0')('sealLink (addon)', () => {
  const sealLink = nativeSealLink as SealLink;

  it('is loaded', () => expect(nativeSealLink).toBeDefined());

  it('hashes the record and writes the header block encodeRecordHeaders writes, record after record', () => {
    const safe = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
    const record = fc.record({
      body: fc.uint8Array({ minLength: 32, maxLength: 400 }),
      key: fc.uint8Array({ minLength: 24, maxLength: 24 }),
      sequence: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })),
      ingestSeq: safe,
      index: fc.oneof(fc.nat(10_000), safe),
      count: fc.oneof(fc.nat(10_000), safe),
    });
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 60, unit: fc.constantFrom(...'abcXYZ019_-') }), fc.array(record, { minLength: 1, maxLength: 5 }), (chain, records) => {
        const stream = new TextEncoder().encode(`HWL_CHAIN_${chain}`);
        const state = recordLinkState(stream);
        const max = recordLinkMaxHeader(state);
        let last: Uint8Array | undefined;
        for (const r of records) {
          const buf = new Uint8Array(r.body.length + max + 16);
          buf.set(r.body, 3);
          state.set(r.key, LINK_KEY_AT);
          const nums = Float64Array.of(r.sequence, r.ingestSeq, r.index, r.count);
          const n = sealLink(buf, 3, r.body.length, 3 + r.body.length, nums, state);
          const hash = state.slice(LINK_HASH_AT, LINK_HASH_AT + 32);
          expect(hex(hash)).toBe(createHash('sha256').update(r.body).digest('hex'));
          const ts = encodeRecordHeaders({
            stream,
            key: latin1(r.key),
            keyIsBinary: true,
            hash,
            prevHash: r.body.subarray(0, 32),
            sequence: BigInt(r.sequence),
            ingestSeq: r.ingestSeq,
            index: r.index,
            count: r.count,
            expectedLastMsgId: last,
          });
          expect(latin1(buf.subarray(3 + r.body.length, 3 + r.body.length + n))).toBe(latin1(ts.headers.bytes));
          expect(n).toBeLessThanOrEqual(max);
          expect(buf.subarray(3 + r.body.length + n).every((x) => x === 0)).toBe(true);
          expect(latin1(state.subarray(LINK_LAST_ID_AT + 1, LINK_LAST_ID_AT + 1 + state[LINK_LAST_ID_AT]!))).toBe(latin1(ts.msgId));
          last = ts.msgId.slice();
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('refuses bad arguments before writing anything', () => {
    const state = recordLinkState(new TextEncoder().encode('HWL_CHAIN_x'));
    const max = recordLinkMaxHeader(state);
    const buf = new Uint8Array(100 + max);
    const before = state.slice();
    const nums = (...v: number[]): Float64Array => Float64Array.from(v);
    const call = (args: unknown[]): unknown => (sealLink as unknown as (...a: unknown[]) => number)(...args);
    const cases: [unknown[], RegExp][] = [
      [[buf, 0, 100, 100, nums(1, 1, 0, 1)], /sealLink\(/],
      [[buf, 0, 100, 100, new Float32Array(4), state], /sealLink\(/],
      [[buf, 0, 100, 100, nums(1, 1, 0), state], /sealLink\(/],
      [[new Uint16Array(4), 0, 100, 100, nums(1, 1, 0, 1), state], /sealLink\(/],
      [[buf, -1, 100, 100, nums(1, 1, 0, 1), state], /offsets/],
      [[buf, 0.5, 100, 100, nums(1, 1, 0, 1), state], /offsets/],
      [[buf, 0, 100, 100, nums(0, 1, 0, 1), state], /sequence/],
      [[buf, 0, 100, 100, nums(2 ** 53, 1, 0, 1), state], /numbers/],
      [[buf, 0, 100, 100, nums(1, -1, 0, 1), state], /numbers/],
      [[buf, 0, 100, 100, nums(1, 1, NaN, 1), state], /numbers/],
      [[buf, 0, 31, 100, nums(1, 1, 0, 1), state], /record out of range/],
      [[buf, 50, buf.length, 0, nums(1, 1, 0, 1), state], /record out of range/],
      [[buf, 0, 100, buf.length - 10, nums(1, 1, 0, 1), state], /no room/],
      [[buf, 0, 100, buf.length + 1, nums(1, 1, 0, 1), state], /no room/],
      [[buf, 0, 100, 50, nums(1, 1, 0, 1), state], /overlap/],
      [[buf, 0, 100, 100, nums(1, 1, 0, 1), new Uint8Array(100)], /template/],
      [[buf, 0, 100, 100, nums(1, 1, 0, 1), state.subarray(0, state.length - 1)], /malformed header template/],
    ];
    for (const [args, message] of cases) {
      expect(() => call(args), String(message)).toThrow(message);
      expect(buf.every((x) => x === 0)).toBe(true);
      expect(hex(state)).toBe(hex(before));
    }
    const longLast = state.slice();
    longLast[LINK_LAST_ID_AT] = 121;
    expect(() => call([buf, 0, 100, 100, nums(1, 1, 0, 1), longLast])).toThrow(/too long/);
    expect(call([buf, 0, 100, 100, nums(1, 1, 0, 1), state])).toBeGreaterThan(0);
  });
});
