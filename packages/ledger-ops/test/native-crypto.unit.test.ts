/**
 * The node:crypto paths of the checkpointer compute exactly the bytes of
 * @hwledger/chain's pure-JS defaults: RFC 9162 leaf and node hashes, whole
 * trees (roots, compact ranges, proofs), and Ed25519 signatures (RFC 8032
 * signatures are deterministic, so they must be byte-identical).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MemoryMerkleTree,
  jsMerkleHasher,
  merkleLeafHash,
  merkleNodeHash,
  signCheckpoint,
  signerFromSeed,
  toHex,
  verifierOf,
  verifyCheckpoint,
} from '@hwledger/chain';
import { addonMerkleHasher, nativeMerkleHasher, nodeCryptoMerkleHasher, withNativeSigning } from '@hwledger/ledger-ops';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('nativeMerkleHasher', () => {
  it('leaf and node hashes equal the pure-JS and the reference (noble) ones, read and written at any offset', () => {
    fc.assert(
      fc.property(bytes32, bytes32, fc.nat(16), fc.nat(16), (a, b, pad, at) => {
        // Inputs at an offset inside a larger buffer (two adjacent children), output at an offset, as the tree reads and writes them.
        const src = new Uint8Array(at + 64 + 7);
        src.set(a, at);
        src.set(b, at + 32);
        const before = src.slice();
        const hashers = [['native', nativeMerkleHasher], ['node:crypto', nodeCryptoMerkleHasher], ['js', jsMerkleHasher], ...(addonMerkleHasher ? [['addon', addonMerkleHasher] as const] : [])] as const;
        for (const [name, hasher] of hashers) {
          const out = new Uint8Array(32 + pad + 32);
          hasher.leafInto(src, at, out, pad);
          expect(toHex(out.subarray(pad, pad + 32)), name).toBe(toHex(merkleLeafHash(a)));
          hasher.nodeInto(src, at, out, pad);
          expect(toHex(out.subarray(pad, pad + 32)), name).toBe(toHex(merkleNodeHash(a, b)));
          // Untouched around the written range, and the input unchanged.
          expect(out.subarray(0, pad).every((x) => x === 0)).toBe(true);
          expect(out.subarray(pad + 32).every((x) => x === 0)).toBe(true);
          expect(toHex(src)).toBe(toHex(before));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a tree built with it has the same roots, compact ranges and proofs at every size', () => {
    const js = new MemoryMerkleTree();
    const native = new MemoryMerkleTree(undefined, nativeMerkleHasher);
    const flat = new Uint8Array(300 * 32);
    for (let i = 1; i <= 300; i++) {
      const h = randomBytes(32);
      flat.set(h, (i - 1) * 32);
      js.append(h);
      native.append(h);
      const n = BigInt(i);
      expect(toHex(native.root(n))).toBe(toHex(js.root(n)));
      expect(native.compactRange(n).map(toHex)).toEqual(js.compactRange(n).map(toHex));
    }
    for (const [index, size] of [[0n, 1n], [5n, 17n], [255n, 256n], [299n, 300n]] as const) {
      expect(native.inclusionProof(index, size).map(toHex)).toEqual(js.inclusionProof(index, size).map(toHex));
    }
    expect(native.consistencyProof(77n, 300n).map(toHex)).toEqual(js.consistencyProof(77n, 300n).map(toHex));
    // appendMany (hashes back to back, in uneven batches), as the checkpointer feeds it.
    for (const hasher of [nativeMerkleHasher, nodeCryptoMerkleHasher, jsMerkleHasher]) {
      const batched = new MemoryMerkleTree(undefined, hasher);
      for (const [from, to] of [[0, 1], [1, 1], [1, 64], [64, 65], [65, 300]] as const) batched.appendMany(flat.subarray(from * 32, to * 32));
      expect(batched.size).toBe(300n);
      expect(toHex(batched.root())).toBe(toHex(js.root()));
      expect(batched.inclusionProof(5n, 17n).map(toHex)).toEqual(js.inclusionProof(5n, 17n).map(toHex));
    }
    expect(() => native.appendMany(new Uint8Array(33))).toThrow(expect.objectContaining({ code: 'INVALID_PROOF' }) as Error);
    // Resumed from a compact range, as the checkpointer does after each checkpoint.
    const resumed = new MemoryMerkleTree({ size: 200n, nodes: js.compactRange(200n) }, nativeMerkleHasher);
    for (let i = 200; i < 300; i++) resumed.appendLeafHash(js.node(0, BigInt(i))!);
    expect(toHex(resumed.root())).toBe(toHex(js.root()));
  });
});

describe('withNativeSigning', () => {
  it('signs exactly as @noble/curves does, for random keys and checkpoints', () => {
    fc.assert(
      fc.property(bytes32, bytes32, bytes32, fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }), (seed, head, root, sequence) => {
        const noble = signerFromSeed('hwl-test', seed);
        const native = withNativeSigning(noble);
        expect(native.sign).toBeTypeOf('function');
        const cp = { chainId: 'c1', sequence, headHash: head, rootHash: root, timeMs: 1_700_000_000_000n };
        const a = signCheckpoint(cp, [noble]);
        const b = signCheckpoint(cp, [native]);
        expect(b.note).toBe(a.note);
        expect(verifyCheckpoint(b.note, [verifierOf(noble)]).verifiedBy).toEqual(['hwl-test']);
      }),
      { numRuns: 50 },
    );
  });

  it('leaves a signer that already has a sign function as it is', () => {
    const s = withNativeSigning(signerFromSeed('k', new Uint8Array(32).fill(9)));
    expect(withNativeSigning(s)).toBe(s);
  });
});
