/**
 * Merkle inclusion and consistency proofs of RFC 9162 section 2.1.3-2.1.4
 * over the chain's record hashes (leaf i = record i+1's current_hash, hashed
 * with the 0x00 leaf prefix; nodes with the 0x01 prefix: see merkle.ts).
 *
 * Generation is split in two: the *ranges* a proof needs are pure index math
 * (PATH and SUBPROOF of RFC 9162 2.1.3.1 / 2.1.4.1), and the hash of each
 * range comes from a `MerkleNodeSource` that stores perfect-subtree hashes
 * (in memory here, in level files in @hwledger/ledger-ops). Every range a
 * proof needs is a run of aligned perfect subtrees, so a proof costs
 * O(log n) node reads, never a pass over the leaves.
 *
 * Verification follows RFC 9162 2.1.3.2 and 2.1.4.2 exactly and trusts
 * nothing it is given: proof elements must be 32 bytes, indices and sizes
 * must be in range, and the recomputed root must equal the trusted one
 * (threats: a prover that pads, truncates or reorders a proof, or claims a
 * leaf at another index or in another tree size).
 */
import { constantTimeEqual, toHex } from './bytes.js';
import { ChainError } from './errors.js';
import { EMPTY_TREE_ROOT, merkleLeafHash, merkleNodeHash as slowNodeHash } from './merkle.js';
import { fastLeafHash, fastNodeHash } from './merkle-fast-hash.js';

const HASH_LEN = 32;

/** RFC 9162 node hash; the fixed-size fast path whenever both children are 32 bytes. */
function merkleNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return left.length === HASH_LEN && right.length === HASH_LEN ? fastNodeHash(left, right) : slowNodeHash(left, right);
}

/** A range of leaves [start, end). */
export interface MerkleRange {
  start: bigint;
  end: bigint;
}

/**
 * Where proofs get their hashes: the root of the perfect subtree at `level`
 * covering leaves [index * 2^level, (index + 1) * 2^level), or undefined
 * when it is not stored (pruned, archived, or not complete yet).
 */
export interface MerkleNodeSource {
  node(level: number, index: bigint): Uint8Array | undefined;
}

function proofError(message: string): ChainError {
  return new ChainError('INVALID_PROOF', message);
}

function checkU64(v: bigint, what: string): void {
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw proofError(`${what} must be a u64, got ${v}`);
}

/** Largest power of two strictly less than n (n >= 2). */
function splitPoint(n: bigint): bigint {
  let k = 1n;
  while (k << 1n < n) k <<= 1n;
  return k;
}

/**
 * The leaf ranges whose hashes make up PATH(index, D[0:size]) (RFC 9162
 * 2.1.3.1), in proof order (from the leaf up).
 */
export function inclusionProofRanges(index: bigint, size: bigint): MerkleRange[] {
  checkU64(index, 'leaf index');
  checkU64(size, 'tree size');
  if (index >= size) throw proofError(`leaf index ${index} is not below tree size ${size}`);
  const out: MerkleRange[] = [];
  let off = 0n;
  let m = index;
  let n = size;
  // Walk down from the root; siblings are collected root-first, then reversed.
  while (n > 1n) {
    const k = splitPoint(n);
    if (m < k) {
      out.push({ start: off + k, end: off + n });
      n = k;
    } else {
      out.push({ start: off, end: off + k });
      off += k;
      m -= k;
      n -= k;
    }
  }
  return out.reverse();
}

/**
 * The leaf ranges whose hashes make up PROOF(size1, D[0:size2]) (RFC 9162
 * 2.1.4.1), in proof order. Empty when size1 is 0 or equals size2.
 */
export function consistencyProofRanges(size1: bigint, size2: bigint): MerkleRange[] {
  checkU64(size1, 'first tree size');
  checkU64(size2, 'second tree size');
  if (size1 > size2) throw proofError(`first tree size ${size1} exceeds second tree size ${size2}`);
  if (size1 === 0n || size1 === size2) return [];
  const out: MerkleRange[] = [];
  let off = 0n;
  let m = size1;
  let n = size2;
  let whole = true; // SUBPROOF's b: is the subtree [off, off+m) a node the verifier already knows?
  while (m !== n) {
    const k = splitPoint(n);
    if (m <= k) {
      out.push({ start: off + k, end: off + n });
      n = k;
    } else {
      out.push({ start: off, end: off + k });
      off += k;
      m -= k;
      n -= k;
      whole = false;
    }
  }
  if (!whole) out.push({ start: off, end: off + m });
  return out.reverse();
}

/**
 * MTH(D[start:end]) from perfect-subtree hashes. The range must decompose,
 * largest first, into aligned perfect subtrees (true of every range a proof
 * or a tree root needs). A subtree the source lacks is rebuilt from its two
 * halves, down to the leaves if need be.
 */
export function rangeHash(src: MerkleNodeSource, start: bigint, end: bigint): Uint8Array {
  if (end < start) throw proofError(`empty range [${start}, ${end})`);
  if (end === start) return EMPTY_TREE_ROOT;
  const pieces: Uint8Array[] = [];
  let pos = start;
  let len = end - start;
  let level = 0;
  while (1n << BigInt(level + 1) <= len) level++;
  for (; level >= 0; level--) {
    const width = 1n << BigInt(level);
    if (len < width) continue;
    if (pos % width !== 0n) throw proofError(`range [${start}, ${end}) is not made of aligned subtrees`);
    pieces.push(perfectHash(src, level, pos / width));
    pos += width;
    len -= width;
  }
  let acc = pieces[pieces.length - 1]!;
  for (let i = pieces.length - 2; i >= 0; i--) acc = merkleNodeHash(pieces[i]!, acc);
  return acc;
}

function perfectHash(src: MerkleNodeSource, level: number, index: bigint): Uint8Array {
  const h = src.node(level, index);
  if (h) return h;
  if (level === 0) {
    throw proofError(`leaf ${index} (sequence ${index + 1n}) is not available in this tree store (archived or not yet added)`);
  }
  return merkleNodeHash(perfectHash(src, level - 1, index * 2n), perfectHash(src, level - 1, index * 2n + 1n));
}

/** Inclusion proof of leaf `index` in the tree of the first `size` leaves. */
export function inclusionProof(src: MerkleNodeSource, index: bigint, size: bigint): Uint8Array[] {
  return inclusionProofRanges(index, size).map((r) => rangeHash(src, r.start, r.end));
}

/** Consistency proof between the trees of the first `size1` and `size2` leaves. */
export function consistencyProof(src: MerkleNodeSource, size1: bigint, size2: bigint): Uint8Array[] {
  return consistencyProofRanges(size1, size2).map((r) => rangeHash(src, r.start, r.end));
}

function checkProofShape(proof: readonly Uint8Array[]): void {
  if (proof.length > 64) throw proofError(`proof has ${proof.length} elements; a u64 tree needs at most 64`);
  for (let i = 0; i < proof.length; i++) {
    if (proof[i]!.length !== HASH_LEN) throw proofError(`proof element ${i} is ${proof[i]!.length} bytes, not ${HASH_LEN}`);
  }
}

/**
 * The root implied by an inclusion proof (RFC 9162 2.1.3.2, steps 1-5
 * without the final root comparison). Throws INVALID_PROOF when the proof
 * does not fit the index and size.
 */
export function rootFromInclusionProof(index: bigint, size: bigint, leafHash: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  checkU64(index, 'leaf index');
  checkU64(size, 'tree size');
  if (index >= size) throw proofError(`leaf index ${index} is not below tree size ${size}`);
  if (leafHash.length !== HASH_LEN) throw proofError(`leaf hash is ${leafHash.length} bytes, not ${HASH_LEN}`);
  checkProofShape(proof);
  let fn = index;
  let sn = size - 1n;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0n) throw proofError('inclusion proof is too long for its tree size');
    if ((fn & 1n) === 1n || fn === sn) {
      r = merkleNodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = merkleNodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw proofError('inclusion proof is too short for its tree size');
  return r;
}

/** Verifies an inclusion proof against a trusted root; throws INVALID_PROOF if it does not hold. */
export function verifyInclusion(index: bigint, size: bigint, leafHash: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): void {
  const got = rootFromInclusionProof(index, size, leafHash, proof);
  if (root.length !== HASH_LEN || !constantTimeEqual(got, root)) {
    throw proofError(`inclusion proof of leaf ${index} leads to root ${toHex(got)}, not the trusted root ${toHex(root)}`);
  }
}

/** Verifies that a record hash (current_hash of record `sequence`) is in the tree of `size` records. */
export function verifyRecordInclusion(sequence: bigint, recordHash: Uint8Array, size: bigint, proof: readonly Uint8Array[], root: Uint8Array): void {
  if (sequence < 1n) throw proofError('record sequences start at 1');
  verifyInclusion(sequence - 1n, size, recordHash.length === HASH_LEN ? fastLeafHash(recordHash) : merkleLeafHash(recordHash), proof, root);
}

/**
 * Verifies a consistency proof (RFC 9162 2.1.4.2): the tree of size2 with
 * root2 extends the tree of size1 with root1. Throws INVALID_PROOF otherwise.
 * Sizes 0 and equal sizes are handled as transparency-dev/merkle does: the
 * proof must then be empty (and equal sizes need equal roots).
 */
export function verifyConsistency(size1: bigint, size2: bigint, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): void {
  checkU64(size1, 'first tree size');
  checkU64(size2, 'second tree size');
  if (size2 < size1) throw proofError(`tree size ${size2} is smaller than ${size1}: a log never shrinks`);
  if (size1 === size2) {
    if (proof.length !== 0) throw proofError('trees of equal size need an empty consistency proof');
    if (!constantTimeEqual(root1, root2)) throw proofError(`two different roots for tree size ${size1}`);
    return;
  }
  if (size1 === 0n) {
    if (proof.length !== 0) throw proofError('the empty tree needs an empty consistency proof');
    return;
  }
  if (proof.length === 0) throw proofError('consistency proof is empty');
  checkProofShape(proof);
  if (root1.length !== HASH_LEN || root2.length !== HASH_LEN) throw proofError('roots must be 32 bytes');
  const path = [...proof];
  // Step 2: if size1 is a power of two, the old root is itself a node of the path.
  if ((size1 & (size1 - 1n)) === 0n) path.unshift(root1);
  let fn = size1 - 1n;
  let sn = size2 - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0n) throw proofError('consistency proof is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = merkleNodeHash(c, fr);
      sr = merkleNodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = merkleNodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw proofError('consistency proof is too short');
  if (!constantTimeEqual(fr, root1)) throw proofError(`consistency proof does not lead to the first root ${toHex(root1)} (size ${size1})`);
  if (!constantTimeEqual(sr, root2)) throw proofError(`consistency proof does not lead to the second root ${toHex(root2)} (size ${size2})`);
}

/**
 * The perfect subtrees that make up a tree of `size` leaves (its compact
 * range), largest first: what an appender must keep to go on, and all that a
 * checkpoint needs to be resumed or extended.
 */
export function compactRangeShape(size: bigint): { level: number; index: bigint }[] {
  checkU64(size, 'tree size');
  const out: { level: number; index: bigint }[] = [];
  let pos = 0n;
  for (let level = 64; level >= 0; level--) {
    const width = 1n << BigInt(level);
    if ((size & width) !== 0n) {
      out.push({ level, index: pos / width });
      pos += width;
    }
  }
  return out;
}

/** MTH of a tree given its compact range (largest subtree first). */
export function rootFromCompactRange(size: bigint, nodes: readonly Uint8Array[]): Uint8Array {
  const shape = compactRangeShape(size);
  if (nodes.length !== shape.length) throw proofError(`a tree of size ${size} has ${shape.length} compact-range nodes, got ${nodes.length}`);
  if (nodes.length === 0) return EMPTY_TREE_ROOT;
  for (const n of nodes) if (n.length !== HASH_LEN) throw proofError('compact-range nodes must be 32 bytes');
  let acc = nodes[nodes.length - 1]!;
  for (let i = nodes.length - 2; i >= 0; i--) acc = merkleNodeHash(nodes[i]!, acc);
  return acc;
}

/** Whether perfect subtree (level, index) is one of the compact-range nodes of a tree of `size` leaves. */
export function isCompactRangeNode(size: bigint, level: number, index: bigint): boolean {
  const width = 1n << BigInt(level);
  if ((size & width) === 0n) return false;
  return index * width === (size >> BigInt(level + 1)) << BigInt(level + 1);
}
