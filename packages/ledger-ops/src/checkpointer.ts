/**
 * Issues signed checkpoints of a chain every N records or T milliseconds
 * (issue 6): tree size = sequence, RFC 9162 root over every record hash up
 * to it, head hash, time, Ed25519 signed note (one signature per key: key
 * rotation). Runs inside the sequencer (fed by its onSealed/onResume hooks)
 * or on its own, following the chain stream (`hwledger checkpointer`).
 *
 * State: the compact range of the last published checkpoint plus the leaf
 * hashes since it (an in-memory tree seeded from that compact range), so a
 * restart costs O(records since the last checkpoint) and memory stays
 * O(N + log n).
 *
 * Never two inconsistent checkpoints (threats: failover between two
 * sequencers, a stale checkpointer, a forged or corrupted stored checkpoint):
 * - on start and on every resume the latest stored checkpoint is re-read,
 *   its signature checked against trusted keys, its compact range against
 *   its root, and its head against the chain (the record at its sequence,
 *   and every later record must link to it), else INTEGRITY and no checkpoint
 *   is ever issued by this process;
 * - every new checkpoint carries, and is checked against, an RFC 9162
 *   consistency proof from the checkpoint it extends;
 * - publication is fenced by Nats-Expected-Last-Sequence on the checkpoint
 *   stream: if another writer published first, its checkpoint is adopted only
 *   if our tree reproduces its root, otherwise this process stops issuing.
 */
import type { Logger } from 'pino';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  EMPTY_TREE_ROOT,
  chainHash,
  constantTimeEqual,
  genesisHash,
  hashFromHex,
  signCheckpoint,
  toHex,
  verifierOf,
  verifyCheckpoint,
  verifyConsistency,
  type NoteSigner,
  type NoteVerifier,
} from '@hwledger/chain';
import { HEADERS, HwlError, silentLogger, streams } from '@hwledger/core';
import { CheckpointLog, checkNext, type StoredCheckpoint } from './checkpoint-log.js';
import { walkChain } from './chain-walk.js';
import { withNativeSigning } from './native-crypto.js';
import { CheckpointTree } from './checkpoint-tree.js';

export interface CheckpointerOptions {
  nc: NatsConnection;
  chainId: string;
  /** Keys that sign every checkpoint (several during a key rotation). */
  signers: NoteSigner[];
  /** Other keys whose stored checkpoints are accepted on start (e.g. a retired key). */
  trusted?: NoteVerifier[];
  /** Issue a checkpoint once this many records were added since the last one (default 1000). */
  everyRecords?: number;
  /** Replicas of the checkpoint stream and bucket when this creates them (default 1; R3 in production). */
  replicas?: number;
  /** Issue a checkpoint this often when records were added (default 10,000 ms; 0: only by count). */
  intervalMs?: number;
  logger?: Logger;
  now?: () => number;
  /** Called after each published checkpoint. */
  onCheckpoint?: (c: StoredCheckpoint) => void;
  /**
   * The KV mirror of the latest checkpoint is written at most this often
   * (default 250 ms; 0: after every checkpoint). The checkpoint stream gets
   * every checkpoint at once and is authoritative; KV is the quick read.
   */
  kvIntervalMs?: number;
}

export interface SealedInput {
  sequence: bigint;
  hash: Uint8Array;
  prevHash: Uint8Array;
}

export class Checkpointer {
  readonly chainId: string;
  private readonly nc: NatsConnection;
  private readonly log: Logger;
  private readonly signers: NoteSigner[];
  private readonly trusted: NoteVerifier[];
  private readonly every: bigint;
  private readonly now: () => number;
  private store: CheckpointLog | undefined;
  /** Every record hash added since the last checkpoint, and that checkpoint's compact range (checkpoint-tree.ts). */
  private readonly tree = new CheckpointTree();
  private headHash: Uint8Array;
  private baseSize = 0n;
  private baseRoot: Uint8Array = EMPTY_TREE_ROOT;
  private baseStreamSeq = 0;
  private issuing: Promise<void> | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Set when an inconsistency was found: this process never issues again. */
  failure: HwlError | undefined;
  /** Set when another writer is ahead: wait for the next resume. */
  private dormant = false;
  /** While dormant: the size of the other writer's checkpoint that put this one behind. */
  private dormantAt = 0n;
  /** True while the tree is being replaced from the store (no issuing meanwhile). */
  private reloading = false;
  /** A resume failed for a transient reason: re-synchronise from the store at the next record (not before this time). */
  private resyncAt: number | undefined;
  /** Checkpoints published by this process. */
  issued = 0;
  /** Records this process read back from the chain stream (catch-up after a start or a gap). */
  readFromChain = 0;
  /** The last checkpoint published or adopted. */
  latest: StoredCheckpoint | undefined;

  constructor(private readonly opts: CheckpointerOptions) {
    if (opts.signers.length === 0) throw new HwlError('CONFIG', 'a checkpointer needs at least one signing key');
    this.nc = opts.nc;
    this.chainId = opts.chainId;
    this.log = (opts.logger ?? silentLogger()).child({ component: 'checkpointer' });
    this.signers = opts.signers.map(withNativeSigning);
    this.trusted = [...opts.signers.map(verifierOf), ...(opts.trusted ?? [])];
    this.every = BigInt(Math.max(1, opts.everyRecords ?? 1000));
    this.now = opts.now ?? Date.now;
    this.headHash = genesisHash(opts.chainId);
  }

  /** Records still to add before the next count-triggered checkpoint: counted down per add, reset whenever the base moves. */
  private untilNext = 0;

  private resetCountdown(): void {
    const since = BigInt(this.tree.leafCount) - this.baseSize;
    this.untilNext = Number(this.every - since);
  }

  /** Records in the tree (= sequence of the last record added). */
  get size(): bigint {
    return BigInt(this.tree.leafCount);
  }

  /** Opens the checkpoint log and resumes from the latest stored checkpoint. */
  async start(): Promise<void> {
    this.store = await CheckpointLog.open(this.nc, this.chainId, this.opts.replicas ?? 1);
    await this.reload();
    const interval = this.opts.intervalMs ?? 10_000;
    if (interval > 0) {
      this.timer = setInterval(() => this.kick(true), interval);
      this.timer.unref?.();
    }
  }

  /** Stops the timer and waits for a checkpoint in flight; `flush` issues one for the records not yet covered. Either way KV gets the last one published. */
  async stop(opts: { flush?: boolean } = {}): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.issuing;
    if (opts.flush) await this.flush();
    else await this.flushKv();
    this.store?.close();
  }

  /** Issues a checkpoint now if records were added since the last one; resolves when published and mirrored to KV. */
  async flush(): Promise<StoredCheckpoint | undefined> {
    await this.issuing;
    if (this.size !== this.baseSize) {
      this.kick(true);
      await this.issuing;
    }
    await this.flushKv();
    return this.latest;
  }

  // KV mirror of the latest published checkpoint, written at most every kvIntervalMs.
  private kvDue: StoredCheckpoint | undefined;
  private kvTimer: ReturnType<typeof setTimeout> | undefined;
  private kvWriting: Promise<void> | undefined;
  private kvWrittenAt = 0;

  private mirrorToKv(c: StoredCheckpoint): void {
    this.kvDue = c;
    if (this.kvTimer || this.kvWriting) return; // written when the one in flight ends
    const wait = Math.max(0, this.kvWrittenAt + (this.opts.kvIntervalMs ?? 250) - Date.now());
    if (wait === 0) {
      this.writeKv();
      return;
    }
    this.kvTimer = setTimeout(() => {
      this.kvTimer = undefined;
      this.writeKv();
    }, wait);
    this.kvTimer.unref?.();
  }

  private writeKv(): void {
    const c = this.kvDue;
    if (!c || !this.store) return;
    this.kvDue = undefined;
    this.kvWrittenAt = Date.now();
    this.kvWriting = this.store
      .updateKv(c)
      .then(
        () => undefined,
        (e: unknown) => this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'checkpoint KV not updated'),
      )
      .finally(() => {
        this.kvWriting = undefined;
        if (this.kvDue) this.mirrorToKv(this.kvDue);
      });
  }

  /** Writes the latest checkpoint to KV now, if it is not there yet, and waits for it. */
  private async flushKv(): Promise<void> {
    while (this.kvWriting || (this.kvDue && this.store)) {
      if (this.kvTimer) {
        clearTimeout(this.kvTimer);
        this.kvTimer = undefined;
      }
      if (this.kvWriting) await this.kvWriting;
      else this.writeKv();
    }
  }

  /** Sequencer hook: one call per sealed record, in order (see SequencerOptions.onSealed). */
  onSealed(s: SealedInput): void | Promise<void> {
    if (this.failure) return;
    if (this.resyncAt !== undefined) {
      // The tree is stale; records skipped now are read back from the chain by the resync.
      if (Date.now() < this.resyncAt) return;
      return this.onResume({ sequence: s.sequence - 1n, hash: s.prevHash }).then(() => (this.resyncAt === undefined ? this.onSealed(s) : undefined));
    }
    const expected = this.tree.leafCount + 1;
    const seq = Number(s.sequence);
    if (seq < expected) return; // already added (caught up from the stream)
    if (seq > expected) {
      // Records sealed by another process in between: read them from the chain first.
      return this.catchUp(s.sequence - 1n).then(() => this.onSealed(s), (e: unknown) => this.fail(e));
    }
    // Inside the sequencer prevHash is the very array it passed as the previous record's hash.
    if (s.prevHash !== this.headHash && !constantTimeEqual(s.prevHash, this.headHash)) {
      this.fail(new HwlError('INTEGRITY', `record ${s.sequence} links to ${toHex(s.prevHash)}, but the checkpointed chain's record ${s.sequence - 1n} is ${toHex(this.headHash)}`));
      return;
    }
    this.add(s.hash);
  }

  /** Sequencer hook: called with the verified tail before sealing (re)starts. */
  async onResume(tail: { sequence: bigint; hash: Uint8Array }): Promise<void> {
    if (this.failure) return;
    await this.issuing;
    this.reloading = true;
    try {
      await this.reload();
      await this.catchUp(tail.sequence);
      if (this.size !== tail.sequence || !constantTimeEqual(this.headHash, tail.hash)) {
        throw new HwlError('INTEGRITY', `chain tail ${tail.sequence} (${toHex(tail.hash)}) is not the checkpointed chain's record ${this.size} (${toHex(this.headHash)})`);
      }
      this.resyncAt = undefined;
    } catch (e) {
      if (e instanceof HwlError && e.code === 'INTEGRITY') this.fail(e);
      else {
        // NATS trouble: not a reason to stop for good. Sealing goes on; re-synchronise in a while.
        this.resyncAt = Date.now() + 2_000;
        this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'checkpointer cannot resume now; will re-synchronise from the chain');
      }
    } finally {
      this.reloading = false;
    }
    this.kick(false);
  }

  /**
   * Standalone mode: follows the chain stream and checkpoints it until the
   * signal aborts (then issues a last checkpoint for what was read).
   */
  async follow(signal: AbortSignal): Promise<void> {
    const anchor = { chainId: this.chainId, sequence: this.size, hash: this.headHash };
    try {
      for await (const r of walkChain(this.nc, anchor, { follow: true, signal })) {
        this.add(r.hash);
        if (this.failure) throw this.failure;
      }
    } catch (e) {
      if (!signal.aborted) {
        this.fail(e);
        throw this.failure ?? e;
      }
    }
  }

  private fail(e: unknown): void {
    if (this.failure) return;
    this.failure = e instanceof HwlError ? e : new HwlError('INTEGRITY', e instanceof Error ? e.message : String(e), { cause: e });
    this.log.error({ err: this.failure.message }, 'checkpointer stopped: no further checkpoints will be issued by this process');
  }

  private add(hash: Uint8Array): void {
    this.tree.add(hash);
    this.headHash = hash;
    // Dormant behind another writer's checkpoint: once this tree has reached it, look again (adopt
    // it if this tree reproduces it, and go on issuing). Before, only a resume woke it up, which the
    // standalone checkpointer never gets and a sequencer that keeps leading never calls again: no
    // checkpoint was ever issued again (found in a review).
    if (this.dormant && this.size >= this.dormantAt && !this.issuing && !this.failure) {
      this.dormant = false;
      this.issuing = this.onFenced()
        .catch((e: unknown) => this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'checkpointer: could not re-read the checkpoint log; will retry'))
        .finally(() => {
          this.issuing = undefined;
          if (this.size - this.baseSize >= this.every) this.kick(false);
        });
      return;
    }
    // At the count boundary, the checkpoint covers exactly `every` records (issue captures the size at once).
    if (--this.untilNext <= 0 && !this.issuing) this.kick(false);
  }

  private kick(timer: boolean): void {
    if (this.issuing || this.failure || this.dormant || this.reloading || !this.store) return;
    if (this.size === this.baseSize) return;
    if (!timer && this.size - this.baseSize < this.every) return;
    this.issuing = this.issue()
      .catch((e: unknown) => this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'checkpoint not published; will retry'))
      .finally(() => {
        this.issuing = undefined;
        if (this.size - this.baseSize >= this.every) this.kick(false);
      });
  }

  /** Re-reads the latest stored checkpoint, checks it, and restarts the tree from its compact range. */
  private async reload(): Promise<void> {
    const store = this.store!;
    const latest = await store.latest();
    this.dormant = false;
    if (!latest) {
      this.tree.reset();
      this.headHash = genesisHash(this.chainId);
      this.baseSize = 0n;
      this.baseRoot = EMPTY_TREE_ROOT;
      this.baseStreamSeq = 0;
      this.latest = undefined;
      this.resetCountdown();
      return;
    }
    const cp = latest.checkpoint;
    try {
      verifyCheckpoint(latest.note, this.trusted);
    } catch (e) {
      throw new HwlError('INTEGRITY', `latest stored checkpoint of ${this.chainId} (at ${cp.sequence}) is not signed by a trusted key: ${e instanceof Error ? e.message : String(e)}`);
    }
    // A wrong root (a fork) shows against the checkpoint before it: its carried proof fails.
    if (latest.streamSeq > 1) {
      const prev = await store.get(latest.streamSeq - 1);
      const issue = checkNext(latest, prev, []);
      if (issue) throw new HwlError('INTEGRITY', `latest stored checkpoint of ${this.chainId}: ${issue.message}`);
    }
    await this.checkHeadAgainstChain(latest);
    this.tree.reset({ size: cp.sequence, nodes: latest.compact });
    this.headHash = cp.headHash;
    this.baseSize = cp.sequence;
    this.baseRoot = cp.rootHash;
    this.baseStreamSeq = latest.streamSeq;
    this.latest = latest;
    this.resetCountdown();
    // The KV copy may lag the log: a process that died between publishing a checkpoint and
    // mirroring it. On an idle chain no new checkpoint would ever bring it up to date (found in a
    // review), so mirror the latest now (updateKv only ever moves the copy forward).
    this.mirrorToKv(latest);
  }

  /** The stored checkpoint's head must be the chain's record at its sequence (when still in the stream). */
  private async checkHeadAgainstChain(c: StoredCheckpoint): Promise<void> {
    const seq = Number(c.checkpoint.sequence);
    const jsm = await jetstreamManager(this.nc);
    let m;
    try {
      m = await jsm.streams.getMessage(streams.chain(this.chainId), { seq });
    } catch {
      return; // purged (archived) or no stream: later records still have to link to the head
    }
    if (!m) return;
    const prev = m.header?.get(HEADERS.prevHash);
    if (!prev) return;
    let ok: boolean;
    try {
      ok = constantTimeEqual(chainHash(hashFromHex(prev), m.data), c.checkpoint.headHash);
    } catch {
      ok = false;
    }
    if (!ok) throw new HwlError('INTEGRITY', `stored checkpoint at ${seq} of ${this.chainId} does not match record ${seq} of the chain (forged or from another history)`);
  }

  private async catchUp(toSeq: bigint): Promise<void> {
    if (toSeq <= this.size) return;
    const anchor = { chainId: this.chainId, sequence: this.size, hash: this.headHash };
    for await (const r of walkChain(this.nc, anchor, { toSeq })) {
      this.readFromChain++;
      this.add(r.hash);
    }
  }

  private async issue(): Promise<void> {
    const store = this.store!;
    const n = this.size;
    if (n === this.baseSize) return;
    const { root, compact, proof } = this.tree.snapshot(n, this.baseSize);
    // The explicit check that the new tree extends the last checkpoint's.
    verifyConsistency(this.baseSize, n, proof, this.baseRoot, root);
    const signed = signCheckpoint({ chainId: this.chainId, sequence: n, headHash: this.headHash, rootHash: root, timeMs: BigInt(this.now()) }, this.signers);
    let streamSeq: number;
    try {
      streamSeq = await store.append({ signed, compact, prevSize: this.baseSize, consistency: proof }, this.baseStreamSeq);
    } catch (e) {
      if (e instanceof HwlError && e.code === 'FENCED') return this.onFenced();
      throw e;
    }
    const stored: StoredCheckpoint = { note: signed.note, checkpoint: signed.checkpoint, signed, compact, prevSize: this.baseSize, consistency: proof, streamSeq };
    this.rebase(stored);
    this.issued++;
    this.log.debug({ size: n.toString(), root: toHex(root) }, 'checkpoint published');
    this.mirrorToKv(stored);
    this.opts.onCheckpoint?.(stored);
  }

  /**
   * Moves the base to a published checkpoint: the tree forgets what is left
   * of its compact range and keeps the leaves added after it, hashed or still
   * pending, without hashing any of them again.
   */
  private rebase(c: StoredCheckpoint): void {
    this.tree.prune(c.checkpoint.sequence);
    this.baseSize = c.checkpoint.sequence;
    this.baseRoot = c.checkpoint.rootHash;
    this.baseStreamSeq = c.streamSeq;
    this.latest = c;
    this.resetCountdown();
  }

  /** Another writer published first: adopt its checkpoint only if our tree reproduces it. */
  private async onFenced(): Promise<void> {
    const latest = await this.store!.latest();
    if (!latest) return;
    const cp = latest.checkpoint;
    try {
      verifyCheckpoint(latest.note, this.trusted);
    } catch (e) {
      this.fail(new HwlError('INTEGRITY', `checkpoint at ${cp.sequence} published by another writer is not signed by a trusted key: ${e instanceof Error ? e.message : String(e)}`));
      return;
    }
    if (cp.sequence > this.size) {
      this.dormant = true;
      this.dormantAt = cp.sequence;
      this.log.warn({ theirs: cp.sequence.toString(), ours: this.size.toString() }, 'another checkpointer is ahead; standing by until the next resume');
      return;
    }
    if (cp.sequence < this.baseSize) {
      this.fail(new HwlError('INTEGRITY', `checkpoint log of ${this.chainId} went back to ${cp.sequence} after ${this.baseSize}`));
      return;
    }
    const snap = this.tree.snapshot(cp.sequence, this.baseSize);
    const ours = snap.root;
    const head = cp.sequence === this.size ? this.headHash : undefined;
    if (!constantTimeEqual(ours, cp.rootHash) || (head && !constantTimeEqual(head, cp.headHash))) {
      this.fail(new HwlError('INTEGRITY', `checkpoint at ${cp.sequence} published by another writer is not consistent with the chain this process saw`));
      return;
    }
    this.rebase({ ...latest, compact: snap.compact });
    this.log.info({ size: cp.sequence.toString() }, 'adopted a consistent checkpoint published by another writer');
  }
}
