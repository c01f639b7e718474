/**
 * An append-only Merkle tree that stores every perfect-subtree hash in one
 * flat buffer per level (2n hashes for n leaves), so that root(size),
 * inclusion and consistency proofs for any earlier size cost O(log n).
 *
 * It may start from a compact range instead of leaf 0 (a tree resumed from a
 * checkpoint, or whose prefix was archived): nodes inside that prefix are
 * then known only where they are compact-range nodes, and a proof that needs
 * another one fails with INVALID_PROOF naming the missing leaf, never with a
 * wrong hash.
 */
import { ChainError } from './errors.js';
import { merkleLeafHash } from './merkle.js';
import { jsMerkleHasher, type MerkleHasher } from './merkle-fast-hash.js';
import { compactRangeShape, consistencyProof, inclusionProof, isCompactRangeNode, rangeHash, rootFromCompactRange, type MerkleNodeSource } from './merkle-proof.js';

const H = 32;

/** Hashes of one level from index `offset` on (nodes before it are never stored). */
class LevelBuffer {
  buf = new Uint8Array(H * 64);
  /** One past the highest index set. */
  end: number;

  constructor(readonly offset: number) {
    this.end = offset;
  }

  set(index: number, hash: Uint8Array): void {
    const off = this.reserve(index); // before reading this.buf: reserve may replace it
    this.buf.set(hash, off);
  }

  /** Makes room for node `index` and returns its byte offset in `buf` (which may be reallocated). */
  reserve(index: number): number {
    if (index < this.offset) throw new ChainError('INVALID_PROOF', `node index ${index} precedes the stored range`);
    const need = (index - this.offset + 1) * H;
    if (need > this.buf.length) {
      let cap = this.buf.length;
      while (cap < need) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, (this.end - this.offset) * H));
      this.buf = next;
    }
    if (index + 1 > this.end) this.end = index + 1;
    return (index - this.offset) * H;
  }

  get(index: number): Uint8Array | undefined {
    if (index < this.offset || index >= this.end) return undefined;
    const o = (index - this.offset) * H;
    return this.buf.slice(o, o + H);
  }

  /** A view (not a copy): valid until the next set(). */
  view(index: number): Uint8Array | undefined {
    if (index < this.offset || index >= this.end) return undefined;
    const o = (index - this.offset) * H;
    return this.buf.subarray(o, o + H);
  }
}

export class MemoryMerkleTree implements MerkleNodeSource {
  private readonly levels: LevelBuffer[] = [];
  private count: number;
  /** Leaves before `base` are represented only by their compact range. */
  readonly base: number;

  private readonly hasher: MerkleHasher;

  /** `hasher` computes the per-append hashes (default: pure JS; see MerkleHasher). */
  constructor(base?: { size: bigint; nodes: readonly Uint8Array[] }, hasher: MerkleHasher = jsMerkleHasher) {
    this.hasher = hasher;
    const size = base?.size ?? 0n;
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new ChainError('INVALID_PROOF', 'tree too large for an in-memory tree');
    this.base = Number(size);
    this.count = this.base;
    if (base) {
      rootFromCompactRange(size, base.nodes); // checks the shape
      compactRangeShape(size).forEach((s, i) => this.level(s.level).set(Number(s.index), base.nodes[i]!));
    }
  }

  get size(): bigint {
    return BigInt(this.count);
  }

  private level(l: number): LevelBuffer {
    // Nodes left of the base's compact range are never stored: each level starts there.
    while (this.levels.length <= l) {
      const lv = this.levels.length;
      this.levels.push(new LevelBuffer(Math.max(0, Math.floor(this.base / 2 ** lv) - 1)));
    }
    return this.levels[l]!;
  }

  /** Appends a record: pass its current_hash (leaf-hashed here). */
  append(recordHash: Uint8Array): void {
    if (recordHash.length !== H) {
      this.appendLeafHash(merkleLeafHash(recordHash));
      return;
    }
    const lb = this.level(0);
    const off = lb.reserve(this.count);
    this.hasher.leafInto(recordHash, lb.buf, off);
    this.climb();
  }

  /** Appends an already leaf-hashed entry (RFC 9162 MTH({d}) = HASH(0x00 || d)). */
  appendLeafHash(leafHash: Uint8Array): void {
    if (leafHash.length !== H) throw new ChainError('INVALID_PROOF', 'leaf hash must be 32 bytes');
    this.level(0).set(this.count, leafHash);
    this.climb();
  }

  /** After leaf `count` is stored: computes the parents it completes, writing each in place. */
  private climb(): void {
    let i = this.count;
    let l = 0;
    while ((i & 1) === 1) {
      // The left sibling is a compact-range node of the base or was computed here.
      const below = this.levels[l]!;
      const left = below.view(i - 1);
      const right = below.view(i);
      if (!left || !right) throw new ChainError('INVALID_PROOF', `missing sibling at level ${l} index ${i - 1}`);
      i >>>= 1;
      l++;
      const above = this.level(l);
      const off = above.reserve(i); // may reallocate above.buf (never the level below)
      this.hasher.nodeInto(left, right, above.buf, off);
    }
    this.count++;
  }

  node(level: number, index: bigint): Uint8Array | undefined {
    const width = 2 ** level;
    const i = Number(index);
    const end = (i + 1) * width;
    if (end > this.count) return undefined;
    if (end <= this.base && !isCompactRangeNode(BigInt(this.base), level, index)) return undefined;
    return this.levels[level]?.get(i);
  }

  /** MTH of the first `size` leaves (default: all). */
  root(size: bigint = this.size): Uint8Array {
    if (size > this.size) throw new ChainError('INVALID_PROOF', `tree has ${this.size} leaves, not ${size}`);
    return rangeHash(this, 0n, size);
  }

  /** Compact range of the first `size` leaves (default: all), largest subtree first. */
  compactRange(size: bigint = this.size): Uint8Array[] {
    if (size > this.size) throw new ChainError('INVALID_PROOF', `tree has ${this.size} leaves, not ${size}`);
    return compactRangeShape(size).map((s) => rangeHash(this, s.index << BigInt(s.level), (s.index + 1n) << BigInt(s.level)));
  }

  inclusionProof(index: bigint, size: bigint = this.size): Uint8Array[] {
    if (size > this.size) throw new ChainError('INVALID_PROOF', `tree has ${this.size} leaves, not ${size}`);
    return inclusionProof(this, index, size);
  }

  consistencyProof(size1: bigint, size2: bigint = this.size): Uint8Array[] {
    if (size2 > this.size) throw new ChainError('INVALID_PROOF', `tree has ${this.size} leaves, not ${size2}`);
    return consistencyProof(this, size1, size2);
  }
}
