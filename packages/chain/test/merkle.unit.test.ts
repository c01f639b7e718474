/**
 * RFC 9162 section 2.1 Merkle tree hash: MerkleAccumulator and merkleRoot
 * against a naive recursive MTH written from the RFC (on node:crypto), for
 * every size 0..70, and snapshot/restore at every size.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EMPTY_TREE_ROOT, MerkleAccumulator, merkleLeafHash, merkleNodeHash, merkleRoot, toHex } from '@hwledger/chain';

const sha = (...parts: (Uint8Array | number[])[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(Uint8Array.from(p));
  return new Uint8Array(h.digest());
};

/** MTH(D[n]) exactly as RFC 9162 2.1.1 writes it. */
function naiveMth(leaves: readonly Uint8Array[]): Uint8Array {
  const n = leaves.length;
  if (n === 0) return sha([]);
  if (n === 1) return sha([0x00], leaves[0]!);
  let k = 1;
  while (k * 2 < n) k *= 2; // the largest power of two smaller than n
  return sha([0x01], naiveMth(leaves.slice(0, k)), naiveMth(leaves.slice(k)));
}

const leaves = Array.from({ length: 70 }, (_, i) => sha([i, i >> 8, 0x5a]));

describe('Merkle tree hash (RFC 9162)', () => {
  it('leaf and node hashes carry the 0x00 / 0x01 domain prefixes; the empty tree is SHA-256("")', () => {
    expect(toHex(merkleLeafHash(leaves[0]!))).toBe(toHex(sha([0x00], leaves[0]!)));
    expect(toHex(merkleNodeHash(leaves[0]!, leaves[1]!))).toBe(toHex(sha([0x01], leaves[0]!, leaves[1]!)));
    expect(toHex(EMPTY_TREE_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    // A leaf is never a node: the same 64 bytes hash differently in the two roles.
    const both = new Uint8Array([...leaves[0]!, ...leaves[1]!]);
    expect(toHex(merkleLeafHash(both))).not.toBe(toHex(merkleNodeHash(leaves[0]!, leaves[1]!)));
  });

  it('MerkleAccumulator and merkleRoot equal the naive MTH for every size 0..70', () => {
    const acc = new MerkleAccumulator();
    for (let n = 0; n <= 70; n++) {
      const want = toHex(naiveMth(leaves.slice(0, n)));
      expect(toHex(acc.root()), `size ${n}`).toBe(want);
      expect(toHex(merkleRoot(leaves.slice(0, n))), `size ${n}`).toBe(want);
      expect(acc.size).toBe(BigInt(n));
      if (n < 70) acc.append(leaves[n]!);
    }
  });

  it('the root depends on every leaf and on their order', () => {
    const base = toHex(merkleRoot(leaves.slice(0, 13)));
    for (let i = 0; i < 13; i++) {
      const changed = leaves.slice(0, 13);
      changed[i] = sha([0xff, i]);
      expect(toHex(merkleRoot(changed))).not.toBe(base);
    }
    const swapped = leaves.slice(0, 13);
    [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
    expect(toHex(merkleRoot(swapped))).not.toBe(base);
  });

  it('snapshot/restore at every size resumes to the same roots', () => {
    for (let cut = 0; cut <= 70; cut++) {
      const acc = new MerkleAccumulator();
      for (const l of leaves.slice(0, cut)) acc.append(l);
      const snap = acc.snapshot();
      // The snapshot is O(log n): one node per set bit of the size.
      expect(snap.nodes.length).toBe(
        cut
          .toString(2)
          .split('')
          .filter((b) => b === '1').length,
      );
      // Through a serialised copy, as a sequencer would keep it.
      const copy = { size: BigInt(snap.size.toString()), nodes: snap.nodes.map((n) => ({ height: n.height, hash: Uint8Array.from(n.hash) })) };
      const resumed = MerkleAccumulator.restore(copy);
      expect(toHex(resumed.root())).toBe(toHex(acc.root()));
      for (const l of leaves.slice(cut)) {
        resumed.append(l);
        acc.append(l);
      }
      expect(toHex(resumed.root()), `cut ${cut}`).toBe(toHex(naiveMth(leaves)));
      expect(resumed.size).toBe(70n);
    }
  });

  it('a snapshot is a copy: appending after it leaves it unchanged', () => {
    const acc = new MerkleAccumulator();
    for (const l of leaves.slice(0, 5)) acc.append(l);
    const snap = acc.snapshot();
    acc.append(leaves[5]!);
    expect(toHex(MerkleAccumulator.restore(snap).root())).toBe(toHex(naiveMth(leaves.slice(0, 5))));
  });
});
