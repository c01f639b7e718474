/**
 * The projector: follows a chain stream, re-verifies every record from its
 * checkpoint (anchor), and writes the read models in batches, each batch and
 * its checkpoint in one transaction (docs/projector.md).
 *
 * Threats and failures:
 * - a tampered or mis-linked record: verification fails, the records before
 *   it are committed, chain_status says 'broken' with the sequence and the
 *   reason, the metric and health report it, and nothing at or after it is
 *   ever projected or aggregated (seed 003: an aggregate over a broken chain
 *   is meaningless);
 * - a crash (kill -9) anywhere: the transaction either committed rows and
 *   checkpoint together or neither; restart resumes at checkpoint + 1;
 * - Postgres restarts / killed backends, NATS outages: the loop backs off,
 *   reloads the checkpoint and reopens the stream from there;
 * - two projectors of one chain: the checkpoint is re-read FOR UPDATE at
 *   commit; the loser finds it moved and starts over from it.
 */
import type pg from 'pg';
import type { NatsConnection } from '@nats-io/transport-node';
import { toHex, type Anchor } from '@hwledger/chain';
import { jetstreamManager } from '@nats-io/jetstream';
import { silentLogger, streams, type Logger } from '@hwledger/core';
import type { Registry } from 'prom-client';
import { loadPriceBooks } from '../pricing/price-book.js';
import { PRICING_LOCK_KEY } from '../pricing/lock.js';
import { isTransientPgError } from '../pg-errors.js';
import { inTransaction } from '../pg-client.js';
import { writeChainStatus } from './chain-status-writer.js';
import { projectorMetrics, type ProjectorMetrics } from '../metrics.js';
import { BatchBuilder, idsOf } from './batch-builder.js';
import { writeBatch } from './batch-writer.js';
import { ChainSource, type SourceEntry } from './chain-source.js';
import { CheckpointMoved, ensureCheckpoint, lockCheckpoint, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { EntryVerifier, type ChainBreak, type VerifiedEntry } from './entry-verifier.js';
import { claimRequestEvents, loadDevices, loadJobs } from './state-loader.js';

export type ProjectorState = 'starting' | 'projecting' | 'caught_up' | 'retrying' | 'broken' | 'stopped';

export interface ProjectorOptions {
  pool: pg.Pool;
  nc: NatsConnection;
  chainId: string;
  /** Records per transaction (default 2000). */
  batchSize?: number;
  /** How long a partial batch waits for more records before committing (default 20 ms). */
  lingerMs?: number;
  logger?: Logger;
  registry?: Registry;
  /** Stop once the checkpoint reaches the stream head seen when projection (re)started. */
  exitAtHead?: boolean;
  /** Backoff after an error: initial and maximum delay (default 100 ms .. 5 s). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Test hook: called inside each batch transaction, after the writes, before COMMIT. */
  beforeCommit?: (batchNo: number, last: bigint) => void | Promise<void>;
}

export interface ProjectorHealth {
  healthy: boolean;
  ready: boolean;
  state: ProjectorState;
  chainId: string;
  sequence: bigint;
  headSequence: bigint;
  broken?: ChainBreak | undefined;
  lastError?: string | undefined;
  [k: string]: unknown;
}

export class Projector {
  private readonly o: Required<Pick<ProjectorOptions, 'batchSize' | 'lingerMs' | 'retryInitialMs' | 'retryMaxMs'>> & ProjectorOptions;
  private readonly log: Logger;
  private readonly m: ProjectorMetrics;
  private stopped = false;
  private wake: (() => void) | undefined;
  private source: ChainSource | undefined;
  private batchNo = 0;
  state: ProjectorState = 'starting';
  checkpoint: Anchor;
  headSequence = 0n;
  broken: ChainBreak | undefined;
  lastError: string | undefined;
  /** Settles when the projector stops (stop(), exitAtHead, or a broken chain with exitAtHead). */
  done: Promise<void> = Promise.resolve();

  constructor(opts: ProjectorOptions) {
    this.o = {
      batchSize: 2000,
      lingerMs: 20,
      retryInitialMs: 100,
      retryMaxMs: 5_000,
      ...opts,
    };
    this.log = opts.logger ?? silentLogger();
    this.m = projectorMetrics(opts.registry);
    this.checkpoint = {
      chainId: opts.chainId,
      sequence: 0n,
      hash: new Uint8Array(32),
    };
  }

  start(): this {
    this.done = this.run();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.source?.close();
    await this.done.catch(() => undefined);
    this.state = 'stopped';
  }

  health(): ProjectorHealth {
    const lag = this.headSequence > this.checkpoint.sequence ? this.headSequence - this.checkpoint.sequence : 0n;
    return {
      healthy: this.state !== 'broken' && this.state !== 'retrying' && this.state !== 'stopped',
      ready: this.state === 'caught_up',
      state: this.state,
      chainId: this.o.chainId,
      sequence: this.checkpoint.sequence,
      hash: toHex(this.checkpoint.hash),
      headSequence: this.headSequence,
      lag,
      broken: this.broken,
      lastError: this.lastError,
    };
  }

  private async run(): Promise<void> {
    try {
      await this.runLoop();
    } finally {
      await this.source?.close();
    }
  }

  private async runLoop(): Promise<void> {
    let delay = this.o.retryInitialMs;
    while (!this.stopped) {
      try {
        const finished = await this.project();
        if (finished) return;
        delay = this.o.retryInitialMs;
      } catch (e) {
        if (this.stopped) break;
        const msg = e instanceof Error ? e.message : String(e);
        this.lastError = msg;
        this.m.dbRetries.inc({ chain: this.o.chainId });
        if (e instanceof CheckpointMoved) {
          this.log.warn({ err: msg }, 'checkpoint moved under this projector; resuming from the stored checkpoint');
          delay = this.o.retryInitialMs;
        } else {
          this.state = 'retrying';
          const level = isTransientPgError(e) || /nats|timeout|stream not found|no responders/i.test(msg) ? 'warn' : 'error';
          this.log[level]({ err: msg, retryInMs: delay }, 'projection interrupted; resuming from the checkpoint');
        }
        await this.source?.close();
        await this.sleepUnlessStopped(delay);
        delay = Math.min(this.o.retryMaxMs, delay * 2);
      }
    }
  }

  private sleepUnlessStopped(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** One projection session from the stored checkpoint. Returns true when finished for good. */
  private async project(): Promise<boolean> {
    const { pool, chainId } = this.o;
    await ensureCheckpoint(pool, chainId);
    this.checkpoint = await readCheckpoint(pool, chainId);
    this.m.sequence.set({ chain: chainId }, Number(this.checkpoint.sequence));
    const verifier = new EntryVerifier(this.checkpoint);
    const target = this.o.exitAtHead ? await this.streamHead() : undefined;
    if (target !== undefined && this.checkpoint.sequence >= target) {
      this.state = 'caught_up';
      return true;
    }
    this.source ??= new ChainSource(this.o.nc, chainId);
    await this.source.open(this.checkpoint.sequence + 1n, Math.max(1024, this.o.batchSize * 2));
    this.state = 'projecting';
    this.log.info({ from: (this.checkpoint.sequence + 1n).toString() }, 'projecting');
    // Batch k+1 is read and verified while batch k commits (one commit in
    // flight at a time, each from the anchor the previous one reached).
    let anchor = this.checkpoint;
    let inFlight: Promise<Anchor> | undefined;
    const settle = async (): Promise<void> => {
      if (!inFlight) return;
      const p = inFlight;
      inFlight = undefined;
      anchor = await p;
    };
    try {
      for (;;) {
        if (this.stopped) return true;
        const { entries, closed } = await this.collect(verifier, inFlight !== undefined);
        await settle();
        const failure = verifier.failure;
        if (entries.length > 0 || failure) {
          inFlight = this.commit(anchor, entries, failure);
          inFlight.catch(() => undefined); // observed by settle()
        }
        if (failure) {
          await settle();
          await this.onBroken(failure);
          return true;
        }
        const reached = entries.length > 0 ? entries[entries.length - 1]!.record.sequence : anchor.sequence;
        if (target !== undefined && reached >= target) {
          await settle();
          this.state = 'caught_up';
          return true;
        }
        if (closed) throw new Error('chain stream consumer closed');
      }
    } finally {
      // Never leave a commit unobserved (its error, if any, surfaces here).
      await settle();
    }
  }

  private async streamHead(): Promise<bigint> {
    const jsm = await jetstreamManager(this.o.nc);
    const info = await jsm.streams.info(streams.chain(this.o.chainId));
    return BigInt(info.state.last_seq);
  }

  /** Reads and verifies up to batchSize records; returns early at a failure, after lingerMs idle, or idle with a commit in flight. */
  private async collect(verifier: EntryVerifier, commitPending: boolean): Promise<{ entries: VerifiedEntry[]; closed: boolean }> {
    const entries: VerifiedEntry[] = [];
    const source = this.source!;
    while (entries.length < this.o.batchSize) {
      const next = await source.next(entries.length === 0 ? 1_000 : this.o.lingerMs);
      if (next === 'closed') return { entries, closed: true };
      if (next === 'timeout') {
        if (entries.length > 0 || commitPending || this.stopped) break;
        if (this.headSequence <= this.checkpoint.sequence) {
          this.state = 'caught_up';
          this.m.lag.set({ chain: this.o.chainId }, 0);
        }
        continue;
      }
      this.noteHead(next);
      const v = verifier.push(next);
      if (!v) break;
      entries.push(v);
    }
    return { entries, closed: false };
  }

  private noteHead(e: SourceEntry): void {
    const head = e.sequence + BigInt(e.pending);
    if (head > this.headSequence) this.headSequence = head;
  }

  /** One transaction: rows, rollups, checkpoint, chain status. Returns the new anchor. */
  private async commit(anchor: Anchor, entries: VerifiedEntry[], failure: ChainBreak | undefined): Promise<Anchor> {
    const { pool, chainId } = this.o;
    return inTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock_shared($1)', [PRICING_LOCK_KEY.toString()]);
      await lockCheckpoint(client, anchor);
      let head = anchor;
      if (entries.length > 0) {
        const books = await loadPriceBooks(client);
        const { jobIds, deviceIds, requestEvents } = idsOf(entries);
        const jobs = await loadJobs(client, chainId, jobIds);
        for (const j of jobs.values()) if (j.deviceId !== null) deviceIds.add(j.deviceId);
        const devices = await loadDevices(client, chainId, deviceIds);
        const seenRequests = await claimRequestEvents(client, chainId, requestEvents);
        const builder = new BatchBuilder(jobs, devices, books, seenRequests);
        for (const e of entries) builder.add(e);
        await writeBatch(client, chainId, builder);
        const last = entries[entries.length - 1]!;
        head = { chainId, sequence: last.record.sequence, hash: last.hash };
        await writeCheckpoint(client, head, last.record.sealedAtMs);
      }
      await writeChainStatus(client, chainId, this.headSequence, head, failure);
      this.batchNo++;
      await this.o.beforeCommit?.(this.batchNo, head.sequence);
      return head;
    }).then((head) => {
      this.checkpoint = head;
      this.lastError = undefined;
      this.m.records.inc({ chain: chainId }, entries.length);
      this.m.batches.inc({ chain: chainId });
      this.m.sequence.set({ chain: chainId }, Number(head.sequence));
      this.m.lag.set({ chain: chainId }, Number(this.headSequence > head.sequence ? this.headSequence - head.sequence : 0n));
      return head;
    });
  }

  private async onBroken(failure: ChainBreak): Promise<void> {
    this.broken = failure;
    this.state = 'broken';
    this.m.verificationFailures.inc({
      chain: this.o.chainId,
      reason: failure.reason,
    });
    this.m.broken.set({ chain: this.o.chainId }, 1);
    this.log.error(
      {
        sequence: failure.sequence.toString(),
        reason: failure.reason,
        detail: failure.message,
        verified: this.checkpoint.sequence.toString(),
      },
      'chain verification failed: projection stopped before this sequence; nothing at or after it is aggregated',
    );
    await this.source?.close();
    if (this.o.exitAtHead) return;
    // Stay up (health reports the break) until stopped; a restart re-verifies from the checkpoint.
    while (!this.stopped) await this.sleepUnlessStopped(60_000);
  }
}
