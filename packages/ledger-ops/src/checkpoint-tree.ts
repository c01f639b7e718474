/**
 * The Merkle tree behind a Checkpointer (issue 6): record hashes go in one by
 * one as records are sealed; a checkpoint reads the root and compact range at
 * its size and the RFC 9162 consistency proof from the previous checkpoint;
 * once it is published the tree forgets what lies left of it (prune, no
 * hashing again), so memory follows the records since the last checkpoint.
 *
 * Inside the sequencer the hashing (a leaf and on average one node per
 * record, native SHA-256) runs in a setImmediate after the turn that sealed
 * the records, not on the path from a PubAck to the next appends; any read
 * takes the waiting hashes in first, in order. (A worker thread for it was
 * built and measured: on two cores it competed with nats-server and sealed
 * no faster; docs/bench-proofs.md.)
 */
import { MemoryMerkleTree } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';
import { nativeMerkleHasher } from './native-crypto.js';

export interface TreeSnapshot {
  /** RFC 9162 root of the first `size` leaves. */
  root: Uint8Array;
  /** Compact range of the first `size` leaves, largest subtree first. */
  compact: Uint8Array[];
  /** Consistency proof from `from` to `size`. */
  proof: Uint8Array[];
}

/** Initial size of the buffer of record hashes waiting to be hashed (1,024 hashes). */
const PENDING_INITIAL_BYTES = 32 * 1024;

export class CheckpointTree {
  private tree = new MemoryMerkleTree(undefined, nativeMerkleHasher);
  /** Record hashes back to back, waiting to be hashed: the sealed record's own array is not kept alive. */
  private pending = new Uint8Array(PENDING_INITIAL_BYTES);
  private pendingCount = 0;
  private scheduled = false;

  /** Leaves added so far, hashed or not yet (a number: an in-memory tree stays far below 2^53). */
  get leafCount(): number {
    return this.tree.leafCount + this.pendingCount;
  }

  /** Adds a record's 32-byte current_hash (copied: the caller may reuse its array). */
  add(recordHash: Uint8Array): void {
    if (recordHash.length !== 32) throw new HwlError('INVALID_ARGUMENT', `a record hash is 32 bytes, not ${recordHash.length}`);
    const at = this.pendingCount * 32;
    if (at + 32 > this.pending.length) {
      const next = new Uint8Array(this.pending.length * 2);
      next.set(this.pending.subarray(0, at));
      this.pending = next;
    }
    this.pending.set(recordHash, at);
    this.pendingCount++;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drainLater);
    }
  }

  /** Starts over: empty, or from the compact range of a checkpoint. Hashes not yet taken in are dropped. */
  reset(base?: { size: bigint; nodes: readonly Uint8Array[] }): void {
    this.pendingCount = 0;
    this.tree = new MemoryMerkleTree(base, nativeMerkleHasher);
  }

  /** Forgets everything left of the compact range at `size` (<= leafCount), keeping the leaves after it. */
  prune(size: bigint): void {
    this.drain();
    this.tree.prune(size);
  }

  /** Root and compact range at `size`, consistency proof from `from` (both at or after the last prune or reset). */
  snapshot(size: bigint, from: bigint): TreeSnapshot {
    this.drain();
    const t = this.tree;
    return { root: t.root(size), compact: t.compactRange(size), proof: t.consistencyProof(from, size) };
  }

  private drain(): void {
    if (this.pendingCount === 0) return;
    this.tree.appendMany(this.pending.subarray(0, this.pendingCount * 32));
    this.pendingCount = 0;
    // A catch-up may have grown the buffer far beyond what sealing needs.
    if (this.pending.length > PENDING_INITIAL_BYTES * 16) this.pending = new Uint8Array(PENDING_INITIAL_BYTES);
  }

  private readonly drainLater = (): void => {
    this.scheduled = false;
    this.drain();
  };
}
