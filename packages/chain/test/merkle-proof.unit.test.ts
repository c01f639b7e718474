/**
 * RFC 9162 inclusion and consistency proofs: published vectors from
 * transparency-dev/merkle (fixtures/transparency-dev-merkle.json, Apache-2.0),
 * their corruption probes, and properties over random trees.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  EMPTY_TREE_ROOT,
  MemoryMerkleTree,
  fastLeafHash,
  fastNodeHash,
  MerkleAccumulator,
  compactRangeShape,
  consistencyProofRanges,
  fromHex,
  inclusionProofRanges,
  merkleLeafHash,
  merkleNodeHash,
  merkleRoot,
  rootFromCompactRange,
  rootFromInclusionProof,
  sha256,
  toHex,
  utf8Encode,
  verifyConsistency,
  verifyInclusion,
  verifyRecordInclusion,
} from '@hwledger/chain';

interface Vectors {
  hasher: Record<string, string>;
  leaves: string[];
  roots: string[];
  inclusion: { leaf: number; size: number; proof: string[] }[];
  consistency: { size1: number; size2: number; proof: string[] }[];
}
const V = JSON.parse(readFileSync(new URL('./fixtures/transparency-dev-merkle.json', import.meta.url), 'utf8')) as Vectors;
const h = (s: string): Uint8Array => fromHex(s);
const SOME = h('abacaba000000000000000000000000000000000000000000060061e00123456');

function treeOf(leafData: readonly Uint8Array[]): MemoryMerkleTree {
  const t = new MemoryMerkleTree();
  for (const d of leafData) t.appendLeafHash(merkleLeafHash(d));
  return t;
}

const refuses = (f: () => unknown): void => {
  expect(f).toThrow(expect.objectContaining({ code: 'INVALID_PROOF' }) as Error);
};

/** transparency-dev's corruptInclusionProof probes: every one must be refused. */
function inclusionProbes(index: bigint, size: bigint, proof: Uint8Array[], root: Uint8Array, leaf: Uint8Array) {
  const probes: { d: string; i: bigint; n: bigint; leaf: Uint8Array; proof: Uint8Array[]; root: Uint8Array }[] = [
    { d: 'index-1', i: index - 1n, n: size, leaf, proof, root },
    { d: 'index+1', i: index + 1n, n: size, leaf, proof, root },
    { d: 'index^2', i: index ^ 2n, n: size, leaf, proof, root },
    { d: 'size*2', i: index, n: size * 2n, leaf, proof, root },
    { d: 'size/2', i: index, n: size / 2n, leaf, proof, root },
    { d: 'wrong leaf', i: index, n: size, leaf: utf8Encode('WrongLeaf'), proof, root },
    { d: 'empty root', i: index, n: size, leaf, proof, root: EMPTY_TREE_ROOT },
    { d: 'random root', i: index, n: size, leaf, proof, root: SOME },
    { d: 'trailing garbage', i: index, n: size, leaf, proof: [...proof, new Uint8Array(0)], root },
    { d: 'trailing root', i: index, n: size, leaf, proof: [...proof, root], root },
    { d: 'preceding garbage', i: index, n: size, leaf, proof: [new Uint8Array(0), ...proof], root },
    { d: 'preceding root', i: index, n: size, leaf, proof: [root, ...proof], root },
  ];
  proof.forEach((_, k) => {
    const bad = proof.map((p) => p.slice());
    bad[k]![0]! ^= 8;
    probes.push({ d: `flip proof[${k}]`, i: index, n: size, leaf, proof: bad, root });
  });
  if (proof.length > 0) probes.push({ d: 'removed component', i: index, n: size, leaf, proof: proof.slice(0, -1), root });
  if (proof.length > 1) probes.push({ d: 'inserted component', i: index, n: size, leaf, proof: [proof[0]!, SOME, ...proof.slice(1)], root });
  return probes.filter((p) => p.i >= 0n);
}

describe('RFC 6962/9162 hasher vectors (transparency-dev/merkle)', () => {
  it('reproduces the empty root, leaf and node hashes', () => {
    expect(toHex(EMPTY_TREE_ROOT)).toBe(V.hasher['empty_root']);
    expect(toHex(merkleLeafHash(new Uint8Array(0)))).toBe(V.hasher['empty_leaf']);
    expect(toHex(merkleLeafHash(utf8Encode('L123456')))).toBe(V.hasher['leaf_L123456']);
    expect(toHex(merkleNodeHash(utf8Encode('N123'), utf8Encode('N456')))).toBe(V.hasher['node_N123_N456']);
  });

  it('reproduces the roots of the 8-leaf reference tree at every size', () => {
    const data = V.leaves.map(h);
    const t = treeOf(data);
    V.roots.forEach((r, i) => {
      expect(toHex(t.root(BigInt(i + 1)))).toBe(r);
      expect(toHex(rangeOfAccumulator(data.slice(0, i + 1)))).toBe(r);
    });
  });

  it('generates and verifies the published inclusion proofs, and refuses every corruption probe', () => {
    const data = V.leaves.map(h);
    const t = treeOf(data);
    for (const v of V.inclusion) {
      const index = BigInt(v.leaf - 1);
      const size = BigInt(v.size);
      const root = h(V.roots[v.size - 1]!);
      const proof = v.proof.map(h);
      expect(t.inclusionProof(index, size).map(toHex)).toEqual(v.proof);
      const leaf = merkleLeafHash(data[v.leaf - 1]!);
      expect(toHex(rootFromInclusionProof(index, size, leaf, proof))).toBe(V.roots[v.size - 1]);
      verifyInclusion(index, size, leaf, proof, root);
      for (const p of inclusionProbes(index, size, proof, root, leaf)) {
        expect(() => verifyInclusion(p.i, p.n, p.leaf, p.proof, p.root), p.d).toThrow();
      }
    }
  });

  it('generates and verifies the published consistency proofs, and refuses every corruption probe', () => {
    const t = treeOf(V.leaves.map(h));
    for (const v of V.consistency) {
      const s1 = BigInt(v.size1);
      const s2 = BigInt(v.size2);
      const r1 = h(V.roots[v.size1 - 1]!);
      const r2 = h(V.roots[v.size2 - 1]!);
      const proof = v.proof.map(h);
      expect(t.consistencyProof(s1, s2).map(toHex)).toEqual(v.proof);
      verifyConsistency(s1, s2, proof, r1, r2);
      if (proof.length === 0) continue;
      const probes: [string, bigint, bigint, Uint8Array, Uint8Array, Uint8Array[]][] = [
        ['size1-1', s1 - 1n, s2, r1, r2, proof],
        ['size1+1', s1 + 1n, s2, r1, r2, proof],
        ['size1^2', s1 ^ 2n, s2, r1, r2, proof],
        ['size2*2', s1, s2 * 2n, r1, r2, proof],
        ['size2/2', s1, s2 / 2n, r1, r2, proof],
        ['wrong root1', s1, s2, utf8Encode('WrongRoot'), r2, proof],
        ['wrong root2', s1, s2, r1, utf8Encode('WrongRoot'), proof],
        ['swapped roots', s1, s2, r2, r1, proof],
        ['empty proof', s1, s2, r1, r2, []],
        ['trailing garbage', s1, s2, r1, r2, [...proof, new Uint8Array(0)]],
        ['trailing root1', s1, s2, r1, r2, [...proof, r1]],
        ['trailing root2', s1, s2, r1, r2, [...proof, r2]],
        ['preceding garbage', s1, s2, r1, r2, [new Uint8Array(0), ...proof]],
        ['preceding root1', s1, s2, r1, r2, [r1, ...proof]],
        ['preceding root2', s1, s2, r1, r2, [r2, ...proof]],
        ['preceding proof[0]', s1, s2, r1, r2, [proof[0]!, ...proof]],
        ['truncated', s1, s2, r1, r2, proof.slice(0, -1)],
      ];
      proof.forEach((_, k) => {
        const bad = proof.map((p) => p.slice());
        bad[k]![0]! ^= 16;
        probes.push([`flip proof[${k}]`, s1, s2, r1, r2, bad]);
      });
      for (const [d, a, b, x, y, p] of probes) {
        expect(() => verifyConsistency(a, b, p, x, y), d).toThrow();
      }
    }
  });

  it('handles the degenerate sizes as transparency-dev does', () => {
    const r1 = utf8Encode("don't care 1");
    const r2 = utf8Encode("don't care 2");
    verifyConsistency(0n, 0n, [], r1, r1);
    verifyConsistency(0n, 1n, [], r1, r2);
    verifyConsistency(1n, 1n, [], r2, r2);
    refuses(() => verifyConsistency(1n, 1n, [], r1, r2));
    refuses(() => verifyConsistency(1n, 0n, [], r1, r2));
    refuses(() => verifyConsistency(2n, 1n, [], r1, r2));
    refuses(() => verifyConsistency(1n, 2n, [], r1, r2));
    refuses(() => verifyConsistency(0n, 1n, [EMPTY_TREE_ROOT], EMPTY_TREE_ROOT, EMPTY_TREE_ROOT));
    refuses(() => verifyInclusion(0n, 0n, SOME, [], EMPTY_TREE_ROOT));
    refuses(() => verifyInclusion(2n, 1n, SOME, [], EMPTY_TREE_ROOT));
    const leaf = merkleLeafHash(utf8Encode('data'));
    verifyInclusion(0n, 1n, leaf, [], leaf);
    refuses(() => verifyInclusion(0n, 1n, leaf, [], new Uint8Array(0)));
  });
});

function rangeOfAccumulator(data: Uint8Array[]): Uint8Array {
  // MerkleAccumulator hashes record hashes as leaves; feed it the leaf data directly.
  const acc = new MerkleAccumulator();
  for (const d of data) acc.append(d);
  return acc.root();
}

const leafSet = (n: number, seed: number): Uint8Array[] => Array.from({ length: n }, (_, i) => sha256(utf8Encode(`leaf ${seed} ${i}`)));

describe('fixed-size fast hashes', () => {
  it('equal the general SHA-256 leaf and node hashes on random 32-byte inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (a, b) => {
        expect(toHex(fastLeafHash(a))).toBe(toHex(merkleLeafHash(a)));
        expect(toHex(fastNodeHash(a, b))).toBe(toHex(merkleNodeHash(a, b)));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('properties over random trees', () => {
  it('every leaf of a random tree verifies against the root, and nowhere else', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer(), (n, seed) => {
        const hashes = leafSet(n, seed);
        const t = new MemoryMerkleTree();
        for (const x of hashes) t.append(x);
        const root = t.root();
        expect(toHex(root)).toBe(toHex(merkleRoot(hashes)));
        for (let i = 0; i < n; i++) {
          const proof = t.inclusionProof(BigInt(i));
          verifyRecordInclusion(BigInt(i + 1), hashes[i]!, BigInt(n), proof, root);
          // The same proof does not place the record at another sequence, or another record here.
          if (n > 1) {
            refuses(() => verifyRecordInclusion(BigInt(((i + 1) % n) + 1), hashes[i]!, BigInt(n), proof, root));
            refuses(() => verifyRecordInclusion(BigInt(i + 1), hashes[(i + 1) % n]!, BigInt(n), proof, root));
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('every pair of sizes has a consistency proof that verifies; a different history does not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.integer(), (n, seed) => {
        const hashes = leafSet(n, seed);
        const t = new MemoryMerkleTree();
        for (const x of hashes) t.append(x);
        const roots = Array.from({ length: n + 1 }, (_, s) => t.root(BigInt(s)));
        for (let a = 0; a <= n; a++) {
          for (let b = a; b <= n; b++) {
            const proof = t.consistencyProof(BigInt(a), BigInt(b));
            expect(proof.length).toBe(consistencyProofRanges(BigInt(a), BigInt(b)).length);
            verifyConsistency(BigInt(a), BigInt(b), proof, roots[a]!, roots[b]!);
            if (a > 0 && a < b) {
              // A fork: the old tree with one record changed is not a prefix of the new tree.
              const forked = hashes.slice(0, a);
              forked[seed % a >= 0 ? seed % a : 0] = sha256(utf8Encode('forged'));
              refuses(() => verifyConsistency(BigInt(a), BigInt(b), proof, merkleRoot(forked), roots[b]!));
            }
          }
        }
      }),
      { numRuns: 12 },
    );
  });

  it('refuses a random single-bit change anywhere in an inclusion proof, leaf or root', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 1000 }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), (n, li, which, bit) => {
        const hashes = leafSet(n, n);
        const t = new MemoryMerkleTree();
        for (const x of hashes) t.append(x);
        const i = li % n;
        const proof = t.inclusionProof(BigInt(i));
        const root = t.root();
        const leaf = merkleLeafHash(hashes[i]!);
        const parts = [leaf, root, ...proof].map((p) => p.slice());
        const k = which % parts.length;
        parts[k]![bit >> 3]! ^= 1 << (bit & 7);
        refuses(() => verifyInclusion(BigInt(i), BigInt(n), parts[0]!, parts.slice(2), parts[1]!));
      }),
      { numRuns: 200 },
    );
  });

  it('a tree resumed from a compact range has the same roots and proofs for the leaves after it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 400 }), (base, extra) => {
        const hashes = leafSet(base + extra, base);
        const full = new MemoryMerkleTree();
        for (const x of hashes) full.append(x);
        const cr = full.compactRange(BigInt(base));
        expect(cr.length).toBe(compactRangeShape(BigInt(base)).length);
        expect(toHex(rootFromCompactRange(BigInt(base), cr))).toBe(toHex(full.root(BigInt(base))));
        const resumed = new MemoryMerkleTree({ size: BigInt(base), nodes: cr });
        // Half the leaves through append(record hash), half through appendLeafHash (both paths grow the buffers).
        hashes.slice(base).forEach((x, k) => (k % 2 === 0 ? resumed.append(x) : resumed.appendLeafHash(merkleLeafHash(x))));
        const n = BigInt(base + extra);
        expect(toHex(resumed.root())).toBe(toHex(full.root()));
        for (let i = base; i < base + extra; i++) {
          expect(resumed.inclusionProof(BigInt(i)).map(toHex)).toEqual(full.inclusionProof(BigInt(i)).map(toHex));
        }
        for (let s = base; s <= base + extra; s++) {
          expect(resumed.consistencyProof(BigInt(s), n).map(toHex)).toEqual(full.consistencyProof(BigInt(s), n).map(toHex));
        }
        // A leaf inside the archived prefix that is not a compact-range node cannot be proved.
        if (base >= 2) refuses(() => resumed.inclusionProof(0n));
      }),
      { numRuns: 60 },
    );
  });

  it('a tree pruned to a size answers exactly like one resumed from that size, and keeps growing the same', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 150 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 150 }), (start, cut, before, after) => {
        // A tree resumed at `start`, grown to start + cut + before, pruned at start + cut, then grown by `after`.
        const total = start + cut + before + after;
        const hashes = leafSet(total, start + cut + before);
        const full = new MemoryMerkleTree();
        for (const x of hashes) full.append(x);
        const t = new MemoryMerkleTree({ size: BigInt(start), nodes: full.compactRange(BigInt(start)) });
        for (const x of hashes.slice(start, start + cut + before)) t.append(x);
        const p = BigInt(start + cut);
        t.prune(p);
        expect(t.base).toBe(start + cut);
        for (const x of hashes.slice(start + cut + before)) t.append(x);
        const resumed = new MemoryMerkleTree({ size: p, nodes: full.compactRange(p) });
        for (const x of hashes.slice(start + cut)) resumed.append(x);
        const n = BigInt(total);
        expect(t.size).toBe(n);
        for (let s = start + cut; s <= total; s++) {
          expect(toHex(t.root(BigInt(s)))).toBe(toHex(full.root(BigInt(s))));
          expect(t.consistencyProof(p, BigInt(s)).map(toHex)).toEqual(resumed.consistencyProof(p, BigInt(s)).map(toHex));
        }
        expect(t.compactRange().map(toHex)).toEqual(full.compactRange().map(toHex));
        for (let i = start + cut; i < total; i++) {
          expect(t.inclusionProof(BigInt(i)).map(toHex)).toEqual(full.inclusionProof(BigInt(i)).map(toHex));
        }
        // What was left of the cut is gone: a proof that needs it is refused, never answered wrongly.
        for (let i = 0; i < start + cut; i++) {
          if (resumed.node(0, BigInt(i)) === undefined) expect(t.node(0, BigInt(i))).toBeUndefined();
        }
        if (start + cut >= 2 && total > start + cut) refuses(() => t.inclusionProof(0n));
        // Pruning backwards or past the end changes nothing / is refused.
        t.prune(p - (p > 0n ? 1n : 0n));
        expect(t.base).toBe(start + cut);
        refuses(() => t.prune(n + 1n));
      }),
      { numRuns: 80 },
    );
  });

  it('pruning gives back the memory of a burst', () => {
    const t = new MemoryMerkleTree();
    const hashes = leafSet(200_000, 0);
    for (const x of hashes) t.append(x);
    const levels = (t as unknown as { levels: { buf: Uint8Array }[] }).levels;
    const bytes = () => levels.reduce((s, l) => s + l.buf.length, 0);
    const before = bytes();
    const root = toHex(t.root());
    t.prune(199_000n);
    expect(toHex(t.root())).toBe(root);
    expect(bytes()).toBeLessThan(before / 50);
  });

  it('proof ranges have logarithmic length', () => {
    const n = 1n << 40n;
    expect(inclusionProofRanges(n - 1n, n).length).toBe(40);
    expect(inclusionProofRanges(12345n, n + 7n).length).toBeLessThanOrEqual(41);
    expect(consistencyProofRanges(n - 3n, n + 5n).length).toBeLessThanOrEqual(82);
  });
});
