/**
 * Merkle tree hashing of RFC 9162 section 2.1 over the chain's record hashes:
 *   leaf  = SHA-256(0x00 || current_hash)
 *   node  = SHA-256(0x01 || left || right)
 *   MTH({}) = SHA-256("")
 * The 0x00/0x01 domain prefixes stop a leaf from being passed off as a node
 * (second-preimage attack on unprefixed trees).
 */
import { sha256 } from '@noble/hashes/sha2.js';

const LEAF = Uint8Array.of(0x00);
const NODE = Uint8Array.of(0x01);

export function merkleLeafHash(leaf: Uint8Array): Uint8Array {
  return sha256.create().update(LEAF).update(leaf).digest();
}

export function merkleNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256.create().update(NODE).update(left).update(right).digest();
}

export const EMPTY_TREE_ROOT: Uint8Array = sha256(new Uint8Array(0));

/**
 * Incremental Merkle tree root: O(log n) memory, O(1) amortised per append.
 * Holds the roots of the perfect subtrees that make up the tree (the binary
 * decomposition of its size), as in transparency-dev's compact ranges.
 */
export class MerkleAccumulator {
  /** Perfect-subtree roots, largest (leftmost) first. */
  private readonly stack: { height: number; hash: Uint8Array }[] = [];
  private count = 0n;

  get size(): bigint {
    return this.count;
  }

  /** Appends one leaf: pass the record's current_hash (it is leaf-hashed here). */
  append(recordHash: Uint8Array): void {
    let node = { height: 0, hash: merkleLeafHash(recordHash) };
    while (this.stack.length > 0 && this.stack[this.stack.length - 1]!.height === node.height) {
      const left = this.stack.pop()!;
      node = { height: node.height + 1, hash: merkleNodeHash(left.hash, node.hash) };
    }
    this.stack.push(node);
    this.count++;
  }

  /** MTH of all leaves appended so far. */
  root(): Uint8Array {
    if (this.stack.length === 0) return EMPTY_TREE_ROOT;
    let acc = this.stack[this.stack.length - 1]!.hash;
    for (let i = this.stack.length - 2; i >= 0; i--) acc = merkleNodeHash(this.stack[i]!.hash, acc);
    return acc;
  }

  /** Serialisable state, so a sequencer can resume without re-reading the chain. */
  snapshot(): { size: bigint; nodes: { height: number; hash: Uint8Array }[] } {
    return { size: this.count, nodes: this.stack.map((n) => ({ ...n })) };
  }

  static restore(s: { size: bigint; nodes: { height: number; hash: Uint8Array }[] }): MerkleAccumulator {
    const m = new MerkleAccumulator();
    m.stack.push(...s.nodes.map((n) => ({ ...n })));
    m.count = s.size;
    return m;
  }
}

/** MTH over a list of record hashes (reference implementation, O(n)). */
export function merkleRoot(recordHashes: readonly Uint8Array[]): Uint8Array {
  const acc = new MerkleAccumulator();
  for (const h of recordHashes) acc.append(h);
  return acc.root();
}
