/**
 * The addon's ingest transcoder (src/ingest-transcode.c) at its boundary, on
 * a small schema table of this test's own: arguments and tables are checked
 * before anything is read, every output is bounded (-2 instead of a write
 * past a buffer, whatever the input), the event cap holds, and keys are
 * SHA-256(source "\n" event_id). That it transcodes the real schema exactly as
 * the sequencer's portable fast path is tested with the sequencer
 * (services/sequencer/test/fast-ingest.unit.test.ts).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { nativeTranscodeIngest, type TranscodeIngest } from '@hwledger/native-hash';

// Table: 1 kind (payload field 12, tag 0x07) with fields job_id (id string)
// and pct (u32, at most 100); 1 reason. Types and rules as in the C file.
const T_ID_STR = 1, T_U32 = 3, T_REASON = 6;
const R_NONE = 0, R_NONZERO = 1, R_MAX_100 = 2, R_REASON = 3, R_EQ_TENANT = 4;
const TABLE = Uint8Array.from([1, 12, 0x07, 2, T_ID_STR, R_NONE, T_U32, R_MAX_100, 1, 1, 0x72]);

const varint = (n: number): number[] => {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return out;
};
const str = (field: number, text: string): number[] => [(field << 3) | 2, ...varint(text.length), ...Buffer.from(text)];
const event = (source: string, id: string, pct: number): number[] => {
  const payload = [...str(1, 'job'), 0x10, ...varint(pct)];
  return [...str(1, source), ...str(2, id), 0x18, 0x05, ...str(5, 'inst'), 0x62, ...varint(payload.length), ...payload];
};
const batch = (...events: number[][]): Uint8Array => Uint8Array.from([0x08, 0x01, ...events.flatMap((e) => [0x12, ...varint(e.length), ...e])]);
const limits = (maxEvents = 100): Int32Array => Int32Array.of(256, 4096, maxEvents, 1);

describe.skipIf(process.env['HWL_NATIVE_HASH'] === '0' || process.env['HWL_NATIVE_INGEST'] === '0')('transcodeIngest (addon)', () => {
  const transcode = nativeTranscodeIngest as TranscodeIngest;
  const run = (body: Uint8Array, lim = limits(), outLen = 4096, descLen = 700, keysLen = 2400, owner: Uint8Array | null = null) => {
    const out = new Uint8Array(outLen);
    const desc = new Int32Array(descLen);
    const keys = new Uint8Array(keysLen);
    return { n: transcode(body, TABLE, lim, out, desc, keys, owner), out, desc, keys };
  };
  const ascii = (t: string): Uint8Array => Uint8Array.from(Buffer.from(t, 'latin1'));

  it('transcodes plain events into canonical tails with their keys', () => {
    const r = run(batch(event('src', 'e1', 100), event('src', 'e2', 0)));
    expect(r.n).toBe(2);
    const tail = (i: number): string => Buffer.from(r.out.subarray(r.desc[i * 7 + 1], r.desc[i * 7 + 2])).toString('hex');
    const s = (t: string): string => Buffer.concat([Buffer.from([0, 0, 0, t.length]), Buffer.from(t)]).toString('hex');
    // observed_at_ms (u64), source, event_id, tag, tenant (empty), instance_id, tag, job_id, pct (u32).
    expect(tail(0)).toBe(`0000000000000005${s('src')}${s('e1')}07${s('')}${s('inst')}07${s('job')}00000064`);
    expect(tail(1)).toBe(`0000000000000005${s('src')}${s('e2')}07${s('')}${s('inst')}07${s('job')}00000000`);
    expect(Array.from(r.desc.subarray(0, 7))).toEqual([12, 0, r.desc[2], -1, 0, 0, 5]);
    for (const [i, id] of ['e1', 'e2'].entries()) {
      expect(Buffer.from(r.keys.subarray(i * 24, i * 24 + 24)).toString('hex')).toBe(createHash('sha256').update(`src\n${id}`).digest('hex').slice(0, 48));
    }
  });

  it('answers -1 (not plain) for a broken rule, and -2 when an output is too small', () => {
    expect(run(batch(event('src', 'e1', 101))).n).toBe(-1);
    expect(run(batch(event('src', 'e1', 1))).n).toBe(1);
    expect(run(batch(event('src', 'e1', 1)), limits(), 10).n).toBe(-2);
    expect(run(batch(event('src', 'e1', 1)), limits(), 4096, 6).n).toBe(-2);
    expect(run(batch(event('src', 'e1', 1)), limits(), 4096, 7, 23).n).toBe(-2);
  });

  it('accepts, with an owner, only sources that are the owner or lie below it', () => {
    const owned = (source: string, owner: string): number => run(batch(event(source, 'e1', 1)), limits(), 4096, 700, 2400, ascii(owner)).n;
    expect(owned('c/n1', 'c/n1')).toBe(1);
    expect(owned('c/n1/sim-000', 'c/n1')).toBe(1);
    expect(owned('c/n1/x', 'c/n1')).toBe(1);
    // Not the owner: a sibling, a longer name, a bare prefix, a trailing slash, another chain, a shorter source.
    for (const source of ['c/n2', 'c/n10', 'c/n1x', 'c/n1/', 'd/n1', 'c/n', 'c', 'C/N1']) expect(owned(source, 'c/n1'), source).toBe(-1);
    // An empty owner owns nothing (the caller never passes one; the check still holds).
    expect(owned('c/n1', '')).toBe(-1);
    expect(owned('/x', '')).toBe(-1);
    // One foreign event makes the whole message not plain (the reference path splits it).
    expect(run(batch(event('c/n1', 'a', 1), event('c/n2', 'b', 1)), limits(), 4096, 700, 2400, ascii('c/n1')).n).toBe(-1);
  });

  it('holds the event cap it is given', () => {
    const three = batch(event('s', 'a', 1), event('s', 'b', 1), event('s', 'c', 1));
    expect(run(three, limits(3)).n).toBe(3);
    expect(run(three, limits(2)).n).toBe(-1);
    expect(run(three, limits(0)).n).toBe(-1);
  });

  it('refuses wrong arguments and malformed tables before reading anything', () => {
    const body = batch(event('src', 'e1', 1));
    const call = (args: unknown[]): unknown => (transcode as unknown as (...a: unknown[]) => number)(...args);
    const ok = [body, TABLE, limits(), new Uint8Array(64), new Int32Array(7), new Uint8Array(24), null];
    expect(call(ok)).toBe(1);
    expect(call([...ok.slice(0, 6), ascii('src')])).toBe(1);
    for (let i = 0; i < ok.length; i++) {
      const bad = [...ok];
      bad[i] = i === 2 || i === 4 ? new Uint8Array(8) : new Int32Array(4);
      expect(() => call(bad)).toThrow(/transcodeIngest/);
    }
    // The owner is a Uint8Array or null: undefined, a string or a missing argument are caller bugs.
    for (const owner of [undefined, 'src', 0]) expect(() => call([...ok.slice(0, 6), owner])).toThrow(/owner/);
    expect(() => call(ok.slice(0, 6))).toThrow(expect.objectContaining({ code: 'ERR_NATIVE_ARGS' }));
    expect(() => call(ok.slice(0, 5))).toThrow(expect.objectContaining({ code: 'ERR_NATIVE_ARGS' }));
    expect(() => call([body, TABLE, Int32Array.of(256, 4096, 100), ...ok.slice(3)])).toThrow(TypeError);
    expect(() => call([body, TABLE, Int32Array.of(-1, 4096, 100, 1), ...ok.slice(3)])).toThrow(RangeError);
    const tables = [
      [], // empty
      TABLE.subarray(0, TABLE.length - 1), // truncated reason
      [...TABLE, 0], // trailing byte
      [1, 12, 0x07, 2, 9, R_NONE, T_U32, R_NONE, 0], // unknown type
      [1, 12, 0x07, 1, T_ID_STR, 9, 0], // unknown rule
      [1, 12, 0x07, 1, T_REASON, R_NONE, 0], // a reason field without the reason rule
      [1, 12, 0x07, 1, T_U32, R_REASON, 0], // the reason rule elsewhere
      [1, 12, 0x07, 1, T_ID_STR, R_NONZERO, 0], // a number rule on a string
      [1, 12, 0x07, 1, T_U32, R_EQ_TENANT, 0], // a string rule on a number
      [17, ...new Array<number>(17 * 3).fill(0), 0], // too many kinds
    ];
    for (const t of tables) expect(() => call([body, Uint8Array.from(t), ...ok.slice(2)]), JSON.stringify(t)).toThrow(/schema table/);
  });

  it('never writes outside its outputs, whatever the input (random and corrupted messages, short outputs)', () => {
    const GUARD = 64;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc
            .tuple(fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.nat(200)), { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }))
            .map(([evs, edits]) => {
              const b = Array.from(batch(...evs.map(([id, pct]) => event('src', id, pct))));
              for (const [at, v] of edits) b[at % b.length] = v;
              return Uint8Array.from(b);
            }),
        ),
        fc.nat(300),
        fc.nat(30),
        fc.nat(100),
        fc.constantFrom(null, 'src', 'sr', 'src/', 's'),
        (body, outLen, descLen, keysLen, owner) => {
          const outer = new Uint8Array(outLen + 2 * GUARD).fill(0xaa);
          const descOuter = new Int32Array(descLen + 2 * GUARD).fill(-7);
          const keysOuter = new Uint8Array(keysLen + 2 * GUARD).fill(0xaa);
          const n = transcode(body, TABLE, limits(), outer.subarray(GUARD, GUARD + outLen), descOuter.subarray(GUARD, GUARD + descLen), keysOuter.subarray(GUARD, GUARD + keysLen), owner === null ? null : ascii(owner));
          expect(n === -1 || n === -2 || (n >= 1 && n * 7 <= descLen && n * 24 <= keysLen)).toBe(true);
          for (const [a, len] of [[outer, outLen], [keysOuter, keysLen]] as const) {
            expect(a.subarray(0, GUARD).every((x) => x === 0xaa)).toBe(true);
            expect(a.subarray(GUARD + len).every((x) => x === 0xaa)).toBe(true);
          }
          expect(descOuter.subarray(0, GUARD).every((x) => x === -7)).toBe(true);
          expect(descOuter.subarray(GUARD + descLen).every((x) => x === -7)).toBe(true);
        },
      ),
      { numRuns: 5_000 },
    );
  });
});
