/**
 * Verification from an anchor (spec: "Hash chain"): a 1,000-record chain in
 * which flipping any single byte of any record is named at exactly that
 * record, and every other kind of damage an export or a stream can suffer
 * (removed, reordered, duplicated, foreign, undecodable, mislabelled,
 * re-hashed) is named at the first bad sequence with its reason.
 */
import { describe, expect, it } from 'vitest';
import {
  ChainVerifier,
  genesisAnchor,
  sealEvent,
  toHex,
  verifyEntries,
  verifyEntriesSync,
  type Anchor,
  type VerifyFailure,
  type VerifyInput,
  type VerifyReason,
} from '@hwledger/chain';
import { buildChain, exportInput, testEvent, type BuiltRecord } from './support/chain-builder.js';

const CHAIN = 'eu-test-1';
const N = 1000;
const chain = buildChain(N, CHAIN);
const genesis = genesisAnchor(CHAIN);
const anchorAt = (i: number): Anchor => (i === 0 ? genesis : { chainId: CHAIN, sequence: BigInt(i), hash: chain[i - 1]!.hash });
const canonicalOnly = (r: BuiltRecord): VerifyInput => ({ canonical: r.canonical });
const hashOnly = (r: BuiltRecord): VerifyInput => ({ canonical: r.canonical, hash: r.hash });

/** Asserts the failure's sequence and reason, and that everything before it verified. */
function expectFailure(result: ReturnType<typeof verifyEntriesSync>, sequence: number, reason: VerifyReason, anchorSeq = 0): VerifyFailure {
  expect(
    result.ok,
    JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
  ).toBe(false);
  const f = result as VerifyFailure;
  expect({ sequence: f.sequence, reason: f.reason }).toEqual({ sequence: BigInt(sequence), reason });
  expect(f.verified).toBe(sequence - 1 - anchorSeq);
  return f;
}

describe('an intact 1,000-record chain', () => {
  it('verifies from genesis with export claims, hash claims only, or canonical bytes only', () => {
    for (const map of [exportInput, hashOnly, canonicalOnly]) {
      const r = verifyEntriesSync(chain.map(map), genesis);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.verified).toBe(N);
      expect(r.head.sequence).toBe(BigInt(N));
      expect(toHex(r.head.hash)).toBe(toHex(chain[N - 1]!.hash));
    }
  });

  it('verifies asynchronously (verifyEntries over an async iterable)', async () => {
    async function* stream(): AsyncGenerator<VerifyInput> {
      for (const r of chain) yield exportInput(r);
    }
    const r = await verifyEntries(stream(), genesis);
    expect(r).toMatchObject({ ok: true, verified: N });
  });

  it('covers every kind and multi-byte text', () => {
    expect(new Set(chain.map((r) => r.record.kind)).size).toBe(6);
    expect(chain.some((r) => r.record.kind === 'job_failed' && [...r.record.data.error_message].some((c) => c.codePointAt(0)! > 0xffff))).toBe(true);
  });
});

describe('flipping any single byte of any record is detected at exactly that record', () => {
  /** Verifies `flipped` in place of record i, from the (trusted) anchor just before it. */
  function verifyAt(i: number, flipped: Uint8Array, claims: 'export' | 'hash'): VerifyFailure | undefined {
    const v = new ChainVerifier(anchorAt(i - 1));
    const r = chain[i - 1]!;
    const input = claims === 'export' ? { ...exportInput(r), canonical: flipped } : { canonical: flipped, hash: r.hash };
    return v.push(input);
  }

  /** Flips `canonical[pos] ^ mask` of record i and checks it is named at i. */
  function probe(i: number, pos: number, mask: number, claims: 'export' | 'hash', reasons: Map<VerifyReason, number>): void {
    const flipped = chain[i - 1]!.canonical.slice();
    flipped[pos] = flipped[pos]! ^ mask;
    const f = verifyAt(i, flipped, claims);
    if (f?.sequence !== BigInt(i)) {
      expect.fail(`record ${i}, byte ${pos} ^ 0x${mask.toString(16)} (${claims} claims): ${f ? `${f.reason} at ${f.sequence}` : 'not detected'}`);
    }
    reasons.set(f.reason, (reasons.get(f.reason) ?? 0) + 1);
  }

  it('every byte position of all 1,000 records (one flip each: mask and claims drawn per byte)', () => {
    const reasons = new Map<VerifyReason, number>();
    let state = 0x2545f491; // xorshift32, fixed seed: the same probes on every run
    const next = (): number => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return state >>> 0;
    };
    let probes = 0;
    for (let i = 1; i <= N; i++) {
      const len = chain[i - 1]!.canonical.length;
      for (let pos = 0; pos < len; pos++) {
        const r = next();
        const mask = [0x01, 0x80, 0xff, ((r >>> 8) % 255) + 1]![r & 3]!;
        probe(i, pos, mask, r & 4 ? 'export' : 'hash', reasons);
        probes++;
      }
    }
    expect(probes).toBeGreaterThan(100_000);
    for (const reason of ['undecodable', 'hash_mismatch', 'wrong_chain', 'envelope_mismatch', 'gap', 'out_of_order'] as const) {
      expect(reasons.get(reason) ?? 0, reason).toBeGreaterThan(0);
    }
  });

  it('every bit of every byte of one record of each kind and of the last two, with both kinds of claims', () => {
    const reasons = new Map<VerifyReason, number>();
    for (const i of [1, 2, 3, 4, 5, 6, 999, 1000]) {
      for (let pos = 0; pos < chain[i - 1]!.canonical.length; pos++) {
        for (let bit = 0; bit < 8; bit++) {
          probe(i, pos, 1 << bit, 'export', reasons);
          probe(i, pos, 1 << bit, 'hash', reasons);
        }
      }
    }
    // A sequence byte flipped to the previous sequence, with no sequence claim beside it.
    expect(reasons.get('duplicate') ?? 0).toBeGreaterThan(0);
  });

  it('every bit of a few records, verifying the whole chain from genesis', () => {
    for (const i of [1, 2, 3, 500, 999, 1000]) {
      const canonical = chain[i - 1]!.canonical;
      const positions = i <= 3 ? canonical.keys() : [0, 1, 5, 14, 30, 60, canonical.length - 9, canonical.length - 1];
      for (const pos of positions) {
        for (let bit = 0; bit < 8; bit += i <= 3 ? 1 : 3) {
          const entries = chain.map(exportInput);
          const flipped = canonical.slice();
          flipped[pos] = flipped[pos]! ^ (1 << bit);
          entries[i - 1] = { ...entries[i - 1]!, canonical: flipped };
          const r = verifyEntriesSync(entries, genesis);
          expect(r.ok, `record ${i} byte ${pos} bit ${bit}`).toBe(false);
          expect((r as VerifyFailure).sequence, `record ${i} byte ${pos} bit ${bit}`).toBe(BigInt(i));
          expect((r as VerifyFailure).verified).toBe(i - 1);
        }
      }
    }
  });

  it('without any claim, a changed payload is caught at the trusted head (anchor_mismatch), never silently accepted', () => {
    // Canonical bytes carry no link: only the recomputed chain against a
    // trusted head (a signed checkpoint) reveals an edit nobody claimed a hash for.
    const entries = chain.map(canonicalOnly);
    const flipped = chain[499]!.canonical.slice();
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 0x01;
    entries[499] = { canonical: flipped };
    const v = new ChainVerifier(genesis);
    for (const e of entries) expect(v.push(e)).toBeUndefined();
    const f = v.expectHead({ chainId: CHAIN, sequence: BigInt(N), hash: chain[N - 1]!.hash });
    expect(f).toMatchObject({ reason: 'anchor_mismatch', sequence: BigInt(N) });
  });
});

describe('damage to the order or membership of records', () => {
  const verify = (entries: BuiltRecord[], map = exportInput, anchor = genesis): ReturnType<typeof verifyEntriesSync> =>
    verifyEntriesSync(entries.map(map), anchor);
  const without = (i: number): BuiltRecord[] => chain.filter((_, k) => k !== i - 1);

  it('a removed record is a gap at its sequence', () => {
    for (const i of [1, 2, 500, 999]) {
      for (const map of [exportInput, hashOnly, canonicalOnly]) expectFailure(verify(without(i), map), i, 'gap');
    }
  });

  it('a removed last record is found against the trusted head', () => {
    const v = new ChainVerifier(genesis);
    for (const r of without(N)) expect(v.push(exportInput(r))).toBeUndefined();
    expect(v.expectHead({ chainId: CHAIN, sequence: BigInt(N), hash: chain[N - 1]!.hash })).toMatchObject({ reason: 'anchor_mismatch', sequence: BigInt(N) });
  });

  it('two swapped neighbours: a gap where the first was expected', () => {
    for (const i of [1, 500, 999]) {
      const swapped = chain.slice();
      [swapped[i - 1], swapped[i]] = [swapped[i]!, swapped[i - 1]!];
      expectFailure(verify(swapped), i, 'gap');
    }
  });

  it('a record moved later: a gap where it was taken from; moved earlier: out_of_order', () => {
    const later = chain.slice();
    const [taken] = later.splice(99, 1);
    later.splice(300, 0, taken!);
    expectFailure(verify(later), 100, 'gap');
    // Records 1..300, then 100 again: an earlier sequence where 301 is expected.
    const earlier = [...chain.slice(0, 300), chain[99]!, ...chain.slice(300)];
    expectFailure(verify(earlier), 301, 'out_of_order');
  });

  it('a duplicated record is named where the repeat sits', () => {
    for (const i of [1, 500, 1000]) {
      const dup = [...chain.slice(0, i), chain[i - 1]!, ...chain.slice(i)];
      expectFailure(verify(dup), i + 1, 'duplicate');
      expectFailure(verify(dup, canonicalOnly), i + 1, 'duplicate');
    }
  });

  it('a record of another chain (even with the right sequence and a valid hash of its own chain) is wrong_chain', () => {
    const other = buildChain(600, 'us-east-2');
    const mixed = [...chain.slice(0, 499), other[499]!, ...chain.slice(500)];
    expectFailure(verify(mixed), 500, 'wrong_chain');
    expectFailure(verify(mixed, canonicalOnly), 500, 'wrong_chain');
    // A whole foreign export checked against our genesis.
    expectFailure(verify(other), 1, 'wrong_chain');
  });

  it('a container claim that differs from the canonical bytes is envelope_mismatch', () => {
    const entries = chain.map(exportInput);
    entries[41] = { ...entries[41]!, chainId: 'us-east-2' };
    expectFailure(verifyEntriesSync(entries, genesis), 42, 'envelope_mismatch');
    const entries2 = chain.map(exportInput);
    entries2[41] = { ...entries2[41]!, sequence: 7n };
    expectFailure(verifyEntriesSync(entries2, genesis), 42, 'envelope_mismatch');
  });

  it('undecodable bytes are named at their position', () => {
    for (const garbage of [new Uint8Array(0), Uint8Array.of(0x01), Uint8Array.of(0x02, 0, 0, 0, 0), new Uint8Array(200).fill(0xab)]) {
      const entries = chain.map(exportInput);
      entries[99] = { ...entries[99]!, canonical: garbage };
      const f = expectFailure(verifyEntriesSync(entries, genesis), 100, 'undecodable');
      expect(f.message).toMatch(/TRUNCATED|UNSUPPORTED_VERSION|TRAILING_BYTES|INVALID_UTF8|UNKNOWN_KIND|TAG_MISMATCH/);
    }
  });

  it('a wrong claimed hash is hash_mismatch; a wrong claimed prev_hash is broken_link', () => {
    const entries = chain.map(exportInput);
    entries[9] = { ...entries[9]!, hash: chain[10]!.hash };
    expectFailure(verifyEntriesSync(entries, genesis), 10, 'hash_mismatch');
    const entries2 = chain.map(exportInput);
    entries2[9] = { ...entries2[9]!, prevHash: chain[9]!.hash };
    expectFailure(verifyEntriesSync(entries2, genesis), 10, 'broken_link');
  });

  it('a record rewritten with consistently re-computed claims passes the links but not the trusted head', () => {
    // The attacker edits record 300 and re-hashes everything after it.
    const forged: BuiltRecord[] = chain.slice(0, 299);
    let prev = chain[298]!.hash;
    for (let i = 300; i <= N; i++) {
      const e = testEvent(i);
      const s = sealEvent(
        i === 300 ? { ...e, eventId: 'forged' } : e,
        { chainId: CHAIN, sequence: BigInt(i), sealedAtMs: chain[i - 1]!.record.sealedAtMs },
        prev,
      );
      forged.push(s);
      prev = s.hash;
    }
    const v = new ChainVerifier(genesis);
    for (const r of forged) expect(v.push(exportInput(r))).toBeUndefined();
    expect(v.expectHead({ chainId: CHAIN, sequence: BigInt(N), hash: chain[N - 1]!.hash })).toMatchObject({ reason: 'anchor_mismatch' });
    // And from a trusted anchor inside the forged range, the forgery is a broken link at once.
    expectFailure(verifyEntriesSync(forged.slice(300).map(exportInput), anchorAt(300)), 301, 'broken_link', 300);
  });
});

describe('anchors', () => {
  it('verifies an export that starts in the middle from the anchor just before it', () => {
    const r = verifyEntriesSync(chain.slice(500).map(exportInput), anchorAt(500));
    expect(r).toMatchObject({ ok: true, verified: 500 });
    if (r.ok) expect(toHex(r.head.hash)).toBe(toHex(chain[N - 1]!.hash));
  });

  it('a wrong anchor hash fails at the first record after it', () => {
    const bad: Anchor = { ...anchorAt(500), hash: chain[498]!.hash };
    expectFailure(verifyEntriesSync(chain.slice(500).map(exportInput), bad), 501, 'broken_link', 500);
    expectFailure(verifyEntriesSync(chain.slice(500).map(hashOnly), bad), 501, 'hash_mismatch', 500);
  });

  it('an anchor at the wrong sequence, or of another chain, fails', () => {
    expectFailure(verifyEntriesSync(chain.slice(500).map(exportInput), anchorAt(499)), 500, 'gap', 499);
    expectFailure(verifyEntriesSync(chain.slice(500).map(exportInput), anchorAt(501)), 502, 'duplicate', 501);
    expectFailure(verifyEntriesSync(chain.slice(500).map(exportInput), { ...anchorAt(500), chainId: 'us-east-2' }), 501, 'wrong_chain', 500);
  });

  it('an empty input verifies to the anchor itself', () => {
    const r = verifyEntriesSync([], anchorAt(500));
    expect(r).toMatchObject({ ok: true, verified: 0, head: { sequence: 500n } });
  });

  it('expectHead accepts the true head and refuses a shorter, longer or different one', () => {
    const run = (): ChainVerifier => {
      const v = new ChainVerifier(genesis);
      for (const r of chain.slice(0, 100)) v.push(exportInput(r));
      return v;
    };
    expect(run().expectHead(anchorAt(100))).toBeUndefined();
    expect(run().expectHead(anchorAt(101))).toMatchObject({ reason: 'anchor_mismatch', sequence: 101n });
    expect(run().expectHead(anchorAt(99))).toMatchObject({ reason: 'anchor_mismatch', sequence: 100n });
    expect(run().expectHead({ ...anchorAt(100), hash: chain[0]!.hash })).toMatchObject({ reason: 'anchor_mismatch', sequence: 100n });
  });

  it('a failed verifier stays failed and reports its first failure', () => {
    const v = new ChainVerifier(genesis);
    expect(v.push(exportInput(chain[1]!))).toMatchObject({ reason: 'gap', sequence: 1n });
    expect(v.push(exportInput(chain[0]!))).toMatchObject({ reason: 'gap', sequence: 1n });
    expect(v.result()).toMatchObject({ ok: false, reason: 'gap', sequence: 1n, verified: 0 });
    expect(v.failed).toBeDefined();
  });
});

describe('streaming verifier memory', () => {
  // Default 1,000,000 records (HWL_TEST_SCALE multiplies it). The verifier keeps
  // one hash and one sequence: heap after a million records must be where it
  // was after the first tenth.
  const total = Math.round(1_000_000 * Number(process.env['HWL_TEST_SCALE'] ?? '1'));

  it(`verifies ${total.toLocaleString('en')} streamed records in constant memory`, { timeout: 120_000 }, async () => {
    const { setFlagsFromString } = await import('node:v8');
    const { runInNewContext } = await import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const heap = (): number => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    // A template record whose sequence bytes are patched per record: cheap to
    // produce, so the time goes to the verifier (decode + SHA-256 per record).
    const body = chain[5]!.canonical.slice();
    const seqAt = 1 + 4 + new TextEncoder().encode(CHAIN).length;
    const view = new DataView(body.buffer);
    const v = new ChainVerifier(genesis);
    let before = 0;
    for (let i = 1; i <= total; i++) {
      view.setBigUint64(seqAt, BigInt(i), false);
      if (v.push({ canonical: body.slice() })) expect.fail(`failed at ${i}: ${v.failed?.message}`);
      if (i === Math.floor(total / 10)) before = heap();
    }
    const after = heap();
    expect(v.result()).toMatchObject({ ok: true, verified: total, head: { sequence: BigInt(total) } });
    // 900k more records hold at least 150 MB if anything were retained per record.
    expect(after - before).toBeLessThan(8 * 1024 * 1024);
  });
});
