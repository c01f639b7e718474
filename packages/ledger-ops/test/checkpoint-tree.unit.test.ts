/**
 * The Checkpointer's tree gives the same answers as a reference tree over
 * every record hash: random runs of adds, prunes (as after each published
 * checkpoint), resets from a compact range (as after a restart) and snapshots
 * at random sizes, with the event loop turning (deferred hashing) or not.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { MemoryMerkleTree, toHex } from '@hwledger/chain';
import { CheckpointTree } from '../src/checkpoint-tree.js';

const hashOf = (i: number): Uint8Array => new Uint8Array(createHash('sha256').update(`record ${i}`).digest());

type Op = { t: 'add'; n: number } | { t: 'prune'; at: number } | { t: 'snap'; size: number; from: number } | { t: 'reset'; at: number };

const ops = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ t: fc.constant('add' as const), n: fc.integer({ min: 0, max: 300 }) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('prune' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('snap' as const), size: fc.double({ min: 0, max: 1, noNaN: true }), from: fc.double({ min: 0, max: 1, noNaN: true }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('reset' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  ),
  { minLength: 1, maxLength: 25 },
);

describe('CheckpointTree', () => {
  it('answers every snapshot exactly as a reference tree over all record hashes', async () => {
    await fc.assert(
      fc.asyncProperty(ops, fc.boolean(), async (run: Op[], turn: boolean) => {
        const t = new CheckpointTree();
        const reference = new MemoryMerkleTree();
        let count = 0;
        let floor = 0; // the last prune or reset: nothing before it can be asked for
        for (const op of run) {
          if (op.t === 'add') {
            for (let k = 0; k < op.n; k++) {
              const h = hashOf(count++);
              reference.append(h);
              t.add(h);
              h.fill(0); // the tree copied it
            }
            // Let the deferred hashing run, or not.
            if (turn) await new Promise((r) => setImmediate(r));
          } else if (op.t === 'prune') {
            floor = floor + Math.floor(op.at * (count - floor));
            t.prune(BigInt(floor));
          } else if (op.t === 'reset') {
            // Restart from a checkpoint's compact range: leaves after it are gone until added again.
            const at = floor + Math.floor(op.at * (count - floor));
            t.reset({ size: BigInt(at), nodes: reference.compactRange(BigInt(at)) });
            expect(t.leafCount).toBe(at);
            for (let i = at; i < count; i++) t.add(hashOf(i));
            floor = at;
          } else {
            const size = floor + Math.floor(op.size * (count - floor));
            const from = floor + Math.floor(op.from * (size - floor));
            expect(t.leafCount).toBe(count);
            const got = t.snapshot(BigInt(size), BigInt(from));
            expect({ root: toHex(got.root), compact: got.compact.map(toHex), proof: got.proof.map(toHex) }).toEqual({
              root: toHex(reference.root(BigInt(size))),
              compact: reference.compactRange(BigInt(size)).map(toHex),
              proof: reference.consistencyProof(BigInt(from), BigInt(size)).map(toHex),
            });
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('refuses a hash that is not 32 bytes, a prune past its end, and what lies before a prune', () => {
    const t = new CheckpointTree();
    expect(() => t.add(new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    for (let i = 0; i < 10; i++) t.add(hashOf(i));
    expect(t.leafCount).toBe(10);
    expect(() => t.prune(11n)).toThrow(expect.objectContaining({ code: 'INVALID_PROOF' }) as Error);
    t.prune(8n);
    expect(() => t.snapshot(10n, 3n)).toThrow(expect.objectContaining({ code: 'INVALID_PROOF' }) as Error);
    expect(t.snapshot(10n, 8n).proof.length).toBeGreaterThan(0);
  });

  it('after a burst, memory goes back to what the records since the last prune need', () => {
    const t = new CheckpointTree();
    for (let i = 0; i < 100_000; i++) t.add(hashOf(i % 1000));
    const bytes = (): number => {
      const inner = t as unknown as { pending: Uint8Array; tree: { levels: { buf: Uint8Array }[] } };
      return inner.pending.length + inner.tree.levels.reduce((n, l) => n + l.buf.length, 0);
    };
    t.snapshot(100_000n, 0n);
    const peak = bytes();
    t.prune(99_990n);
    t.add(hashOf(1));
    t.snapshot(100_001n, 99_990n);
    expect(bytes()).toBeLessThan(peak / 20);
  });
});
