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

  constructor(public offset: number) {
    this.end = offset;
  }

  /** Forgets the nodes before index `offset` (moves the rest to the front; no hashing). */
  dropBefore(offset: number): void {
    if (offset <= this.offset) return;
    const keep = Math.max(0, this.end - offset);
    const from = (Math.min(offset, this.end) - this.offset) * H;
    // Shrink a buffer that a burst made large, so memory follows what is kept.
    let cap = this.buf.length;
    while (cap > H * 64 && cap >= keep * H * 4) cap /= 2;
    if (cap !== this.buf.length) {
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(from, from + keep * H));
      this.buf = next;
    } else this.buf.copyWithin(0, from, from + keep * H);
    this.offset = offset;
    if (this.end < offset) this.end = offset;
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
}

/** First stored index of level `l` for a tree whose leaves before `base` are only a compact range (the compact-range node there, if any). */
function levelStart(base: number, l: number): number {
  return Math.max(0, Math.floor(base / 2 ** l) - 1);
}

export class MemoryMerkleTree implements MerkleNodeSource {
  private readonly levels: LevelBuffer[] = [];
  private count: number;
  /** Leaves before `base` are represented only by their compact range. */
  private baseCount: number;

  private readonly hasher: MerkleHasher;

  /** `hasher` computes the per-append hashes (default: pure JS; see MerkleHasher). */
  constructor(base?: { size: bigint; nodes: readonly Uint8Array[] }, hasher: MerkleHasher = jsMerkleHasher) {
    this.hasher = hasher;
    const size = base?.size ?? 0n;
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new ChainError('INVALID_PROOF', 'tree too large for an in-memory tree');
    this.baseCount = Number(size);
    this.count = this.baseCount;
    if (base) {
      rootFromCompactRange(size, base.nodes); // checks the shape
      compactRangeShape(size).forEach((s, i) => this.level(s.level).set(Number(s.index), base.nodes[i]!));
    }
  }

  get size(): bigint {
    return BigInt(this.count);
  }

  /** size as a number (a tree in memory stays far below 2^53 leaves). */
  get leafCount(): number {
    return this.count;
  }

  /** Leaves before this one are represented only by their compact range. */
  get base(): number {
    return this.baseCount;
  }

  /**
   * Makes the tree as if it had been started from the compact range at
   * `size` (which it holds): every node left of that range is forgotten, the
   * nodes after it are kept as they are, without hashing anything again.
   * Memory then follows the leaves added since `size` (a checkpointer prunes
   * at each checkpoint it publishes).
   */
  prune(size: bigint): void {
    if (size > this.size) throw new ChainError('INVALID_PROOF', `tree has ${this.size} leaves, cannot prune to ${size}`);
    const n = Number(size);
    if (n <= this.baseCount) return;
    this.baseCount = n;
    this.levels.forEach((lv, l) => lv.dropBefore(levelStart(n, l)));
  }

  private level(l: number): LevelBuffer {
    // Nodes left of the base's compact range are never stored: each level starts there.
    while (this.levels.length <= l) {
      const lv = this.levels.length;
      this.levels.push(new LevelBuffer(levelStart(this.baseCount, lv)));
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
    const off = lb.reserve(this.count); // before reading lb.buf: reserve may replace it
    this.hasher.leafInto(recordHash, 0, lb.buf, off);
    this.climb();
  }

  /** Appends records whose 32-byte current_hash values lie back to back in `hashes` (no view per record). */
  appendMany(hashes: Uint8Array): void {
    if (hashes.length % H !== 0) throw new ChainError('INVALID_PROOF', `appendMany takes whole 32-byte hashes, not ${hashes.length} bytes`);
    const n = hashes.length / H;
    if (n === 0) return;
    const lb = this.level(0);
    for (let k = 0; k < n; k++) {
      const off = lb.reserve(this.count); // before reading lb.buf: reserve may replace it
      this.hasher.leafInto(hashes, k * H, lb.buf, off);
      this.climb();
    }
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
      // The left sibling is a compact-range node of the base or was computed here; both children lie side by side.
      const below = this.levels[l]!;
      if (i - 1 < below.offset || i >= below.end) throw new ChainError('INVALID_PROOF', `missing sibling at level ${l} index ${i - 1}`);
      const at = (i - 1 - below.offset) * H;
      i >>>= 1;
      l++;
      const above = this.level(l);
      const off = above.reserve(i); // may reallocate above.buf (never the level below)
      this.hasher.nodeInto(below.buf, at, above.buf, off);
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
