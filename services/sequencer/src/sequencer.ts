/**
 * The sequencer: the single writer of a chain (spec: "Chain stream"; seed 000
 * steps 1-4). Many processes may run per chain; the one holding the KV lease
 * seals, the others stand by and take over within seconds of its death.
 *
 *   standby ──create lease──► leader ──grace──► session ──fenced/unavailable──► session …
 *      ▲                         │                  │
 *      └──── lease lost/expired ─┴──────────────────┘   (INTEGRITY: stop, refuse to seal)
 *
 * Safety does not rest on the lease: every append is fenced by
 * Nats-Expected-Last-Sequence, and every session starts from a verified
 * chain tail and its ingest watermark (see sealing-session.ts and
 * docs/sequencer.md).
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { nuid, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { Registry } from 'prom-client';
import { constantTimeEqual, type ValidationLimits } from '@hwledger/chain';
import { HEADERS, HwlError, KV_BUCKETS, ensureChainTopology, kvBucketAllowsRollups, silentLogger, type TopologyOptions } from '@hwledger/core';
import { readChain } from './chain-reader.js';
import { readChainTail, type ChainTail } from './chain-tail.js';
import { SerialRunner } from './serial-runner.js';
import { LeaderLease, openLeaderBucket, type Lease } from './leader-lease.js';
import { sequencerMetrics, type SequencerMetrics } from './metrics.js';
import { RecentIds } from './recent-ids.js';
import { eventKeyOfMsgId } from './chain-msg-id.js';
import { SealingSession, type SealedLink, type SealedRecord, type SessionOutcome } from './sealing-session.js';
import { DEFAULT_MAX_INGEST_BYTES, REJECT_CODES } from './admission.js';

/** Default ingest bytes delivered ahead of sealing (SequencerOptions.ingestBufferBytes). */
export const DEFAULT_INGEST_BUFFER_BYTES = 256 * 1024;
/**
 * Appends in flight. 1,024 rather than 256: a turn resumes at half the
 * window, so each socket write carries about 512 records. In 6 alternating
 * bench rounds on 2026-12-07 (2 × AMD EPYC, docs/bench-seal.md) both the
 * sequencer and the relay stored about 12% more per second with it than
 * with 256; memory held is about 1 KiB per append.
 */
export const DEFAULT_WINDOW = 1024;

/** Leader lease TTL (ms): the `hwl_leader` bucket's max_age when the sequencer creates it. */
export const DEFAULT_LEASE_TTL_MS = 5_000;

export interface SequencerOptions {
  nc: NatsConnection;
  chainId: string;
  logger?: Logger;
  /** prom-client registry for the metrics (default: prom-client's global registry). */
  registry?: Registry;
  /**
   * Called once per record this process sealed, strictly in sequence order,
   * after the record is stored (PubAck). A returned promise delays the next
   * call (not sealing; sealing pauses only if 10,000 calls are queued).
   * Errors are logged and do not stop sealing. After a fenced append or a
   * takeover, sealing resumes from the chain tail: see `onResume`.
   */
  onSealed?: (s: SealedRecord) => void | Promise<void>;
  /**
   * onSealed for hooks that need only the chain link (sequence, hash,
   * prevHash), with the same order and backlog rules: nothing is copied or
   * allocated per record for it, where onSealed copies each record's bytes
   * (the Checkpointer's hook; docs/bench-proofs.md). At most one of the two.
   */
  onSealedLink?: (s: SealedLink) => void | Promise<void>;
  /**
   * Called with the verified chain tail each time this process (re)starts
   * sealing (on becoming leader, after a fence), before the first append and
   * after every earlier onSealed call has finished: records between what
   * onSealed reported and this tail were written by another process and can
   * be read with readChain.
   */
  onResume?: (tail: ChainTail) => void | Promise<void>;
  /** Appends in flight (default 1024). */
  window?: number;
  /** Lease TTL = leader bucket max_age when the bucket is created here (default 5000 ms). */
  leaseTtlMs?: number;
  /** Lease renewal period (default 1000 ms). */
  leaseRenewMs?: number;
  /** Stop appending this long before the lease could expire (default 2000 ms). */
  leaseMarginMs?: number;
  /** Wait after taking the lease before the first append (default 1000 ms). */
  takeoverGraceMs?: number;
  /** Standby poll period (default 500 ms). */
  standbyPollMs?: number;
  /** Size of the recent sealed-id set (default 100,000). */
  recentIds?: number;
  /** PubAck timeout (default 10,000 ms). */
  publishTimeoutMs?: number;
  /** Largest ingest message accepted (default 1 MiB). */
  maxIngestBytes?: number;
  limits?: ValidationLimits;
  /** Stream settings used if this process creates the chain's streams. */
  topology?: TopologyOptions;
  /** Name of this process in the lease and logs (default host/pid/random). */
  instanceId?: string;
  /**
   * A session ends cleanly and a new one starts (purging the handled ingest
   * prefix) after this many ingest messages (default 200,000) ...
   */
  rotateMessages?: number;
  /** ... or after this long when anything was handled (default 60,000 ms). */
  rotateMs?: number;
  /**
   * Ingest bytes delivered ahead of sealing, about (default 256 KiB): sizes
   * the ingest consumer's max_ack_pending from the stream's average message
   * size (32 to 2,048 messages). docs/bench-seal.md: a larger buffer keeps
   * messages alive past the young generation, and their socket buffers then
   * wait for a full garbage collection.
   */
  ingestBufferBytes?: number;
  /** Test hook: runs after a record's PubAck is processed, before its ingest message is acked. */
  afterSeal?: (sequence: bigint) => void;
  /**
   * Replaces the KV lease. Tests use a lease that is always granted to run
   * several writers at once and show that fencing alone keeps the chain whole.
   */
  lease?: Lease;
  /** Wall clock in unix ms (default Date.now). */
  now?: () => number;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** Errors that stop the sequencer for good: a chain that fails verification, or a state it cannot seal from safely. */
function isFatal(e: unknown): boolean {
  const code = e instanceof Error ? (e as { code?: string }).code : undefined;
  return code === 'INTEGRITY' || code === 'FAILED_PRECONDITION';
}

export class Sequencer {
  readonly chainId: string;
  readonly instanceId: string;
  private readonly nc: NatsConnection;
  private readonly log: Logger;
  private readonly metrics: SequencerMetrics;
  private readonly abort = new AbortController();
  private readonly recent: RecentIds;
  private readonly hooks: SerialRunner<SealedLink> | undefined;
  private readonly hooksReadRecord: boolean;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private lease: Lease | undefined;
  private session: SealingSession | undefined;
  private loop: Promise<void> | undefined;
  private leader = false;
  private cleanEnd: { sequence: bigint; hash: Uint8Array } | undefined;
  private stopping = false;
  /** Records sealed by this process since start. */
  sealed = 0;

  constructor(private readonly opts: SequencerOptions) {
    this.nc = opts.nc;
    this.chainId = opts.chainId;
    this.instanceId = opts.instanceId ?? `${hostname()}/${process.pid}/${nuid.next().slice(-6)}`;
    this.log = (opts.logger ?? silentLogger()).child({ chain: opts.chainId, instance: this.instanceId });
    this.metrics = sequencerMetrics(opts.registry);
    // Every reject code from 0: a counter that appears at 1 is invisible to increase() and rate(),
    // so an alert on the first FOREIGN_SOURCE dead letter (deploy/prometheus/alerts.yml) would miss it.
    for (const code of REJECT_CODES) this.metrics.rejected.inc({ chain: opts.chainId, code }, 0);
    this.recent = new RecentIds(opts.recentIds ?? 100_000);
    if (opts.onSealed && opts.onSealedLink) throw new HwlError('INVALID_ARGUMENT', 'give onSealed or onSealedLink, not both');
    const onSealed = opts.onSealed;
    const hook: ((s: SealedLink) => void | Promise<void>) | undefined = onSealed ? (s) => onSealed(s as SealedRecord) : opts.onSealedLink;
    this.hooksReadRecord = onSealed !== undefined;
    this.hooks = hook ? new SerialRunner<SealedLink>(hook, (e) => this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'onSealed hook failed')) : undefined;
  }

  /** True while this process holds the lease. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** Prepares the topology and the lease bucket, then competes for leadership in the background. */
  async start(): Promise<void> {
    if (this.loop) throw new Error('sequencer already started');
    const jsm = await ensureChainTopology(this.nc, this.chainId, this.opts.topology);
    this.jsm = jsm;
    this.js = jetstream(this.nc);
    if (this.opts.lease) {
      this.lease = this.opts.lease;
    } else {
      const ttlMs = this.opts.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
      const kv = await openLeaderBucket(this.nc, ttlMs, this.opts.topology?.replicas ?? 1);
      // An existing bucket keeps its own TTL (max_age): the server expires the
      // lease key after it, whatever this process was told. A lease believed
      // valid longer than the server keeps it would let a standby take over
      // while this process still appends (the fence stops a fork, not the
      // churn), so the shorter of the two is used.
      const bucketTtl = (await kv.status()).ttl;
      const effectiveTtl = bucketTtl > 0 && bucketTtl < ttlMs ? bucketTtl : ttlMs;
      if (effectiveTtl !== ttlMs) this.log.warn({ configuredTtlMs: ttlMs, bucketTtlMs: bucketTtl }, 'the lease bucket expires keys sooner than --lease-ttl-ms: using its TTL');
      const marginMs = Math.min(this.opts.leaseMarginMs ?? 2_000, Math.floor(effectiveTtl * 0.4));
      this.lease = new LeaderLease(kv, this.chainId, this.instanceId, { ttlMs: effectiveTtl, marginMs });
      // Buckets made by an earlier release allow rollups: any chain's sequencer could purge them all
      // (@hwledger/core kv-bucket.ts). The topology job changes them; until then, say so.
      for (const bucket of [KV_BUCKETS.leader, KV_BUCKETS.checkpoints]) {
        if ((await kvBucketAllowsRollups(this.nc, bucket)) === true) {
          this.log.warn({ bucket }, 'a shared KV bucket still allows rollups (made by an earlier release): run the topology job (hwledger-stack topology) as the NATS admin to refuse them');
        }
      }
    }
    this.metrics.isLeader.set({ chain: this.chainId }, 0);
    this.loop = this.run();
    // Keep an unhandled rejection from surfacing before the caller awaits done.
    this.loop.catch(() => undefined);
  }

  /** Settles when the sequencer stops: resolves after stop(), rejects on an INTEGRITY or FAILED_PRECONDITION error (it stops for good). */
  get done(): Promise<void> {
    if (!this.loop) return Promise.reject(new Error('sequencer not started'));
    return this.loop;
  }

  /** Stops sealing: lets in-flight appends settle, acks, releases the lease. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    this.session?.stop('stopped');
    try {
      await this.loop;
    } catch {
      // reported through done
    }
  }

  private async run(): Promise<void> {
    const lease = this.lease!;
    const signal = this.abort.signal;
    const pollMs = this.opts.standbyPollMs ?? 500;
    let standbyLogged = false;
    while (!this.stopping) {
      let acquired = false;
      try {
        acquired = await lease.tryAcquire();
      } catch (e) {
        this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'lease request failed');
      }
      if (!acquired) {
        if (!standbyLogged) {
          this.log.info({ holder: await lease.currentHolder() }, 'standing by: another sequencer holds the lease');
          standbyLogged = true;
        }
        await sleep(pollMs, signal);
        continue;
      }
      standbyLogged = false;
      await this.lead(lease, signal);
    }
  }

  private async lead(lease: Lease, signal: AbortSignal): Promise<void> {
    this.leader = true;
    this.metrics.isLeader.set({ chain: this.chainId }, 1);
    this.log.info('acquired the lease: leader');
    let renewing: Promise<void> | undefined;
    const renewTimer = setInterval(() => {
      if (renewing) return;
      renewing = lease
        .renew()
        .then((ok) => {
          if (!ok) {
            this.log.warn('lease lost');
            this.session?.stop('lost');
          }
        })
        .catch(() => undefined)
        .finally(() => (renewing = undefined));
    }, this.opts.leaseRenewMs ?? 1_000);
    renewTimer.unref?.();
    try {
      // A previous leader's last appends (sent while its lease was valid) land first.
      await sleep(this.opts.takeoverGraceMs ?? 1_000, signal);
      let backoff = 50;
      while (!this.stopping && lease.isValid()) {
        const before = this.sealed;
        const outcome = await this.runSession();
        if (outcome === 'stopped' || outcome === 'lost') break;
        if (outcome === 'rotate') {
          backoff = 50;
          continue;
        }
        if (this.sealed > before) backoff = 50; // progress: the trouble was momentary
        await sleep(backoff + Math.floor(Math.random() * backoff), signal);
        backoff = Math.min(backoff * 2, 5_000);
      }
    } finally {
      clearInterval(renewTimer);
      this.leader = false;
      this.metrics.isLeader.set({ chain: this.chainId }, 0);
      // A renewal still in flight would land after the release's delete and hold the key
      // until its TTL ran out (a successor waiting that long): let it settle first.
      await renewing;
      await lease.release();
      this.log.info('released the lease');
    }
  }

  private async runSession(): Promise<SessionOutcome> {
    const jsm = this.jsm!;
    let tail: ChainTail;
    try {
      // Streams deleted while running (an operator, a test) are recreated, not waited for.
      await ensureChainTopology(this.nc, this.chainId, this.opts.topology);
      tail = await readChainTail(jsm, this.chainId);
    } catch (e) {
      if (isFatal(e)) throw e;
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'cannot read the chain tail');
      return 'unavailable';
    }
    this.metrics.head.set({ chain: this.chainId }, Number(tail.sequence));
    try {
      // The recent-id set is still exact if the chain ends where our last
      // session cleanly left it (a rotation): skip re-reading it.
      const keep = this.cleanEnd && this.cleanEnd.sequence === tail.sequence && constantTimeEqual(this.cleanEnd.hash, tail.hash);
      this.cleanEnd = undefined;
      if (!keep) await this.warmRecent(tail);
      await this.hooks?.idle();
      await this.opts.onResume?.(tail);
    } catch (e) {
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'cannot prepare a sealing session');
      return 'unavailable';
    }
    if (this.stopping) return 'stopped';
    // Reading the tail and warming up can take longer than the lease: a
    // process whose lease ran out meanwhile must not start a session (it would
    // delete the new leader's ingest consumer and purge below its own, older,
    // watermark before its first append found out).
    if (!this.lease!.isValid()) {
      this.log.warn('the lease ran out while preparing the session: not starting it');
      return 'lost';
    }
    const session = new SealingSession(
      {
        nc: this.nc,
        js: this.js!,
        jsm,
        chainId: this.chainId,
        log: this.log,
        metrics: this.metrics,
        lease: this.lease!,
        recent: this.recent,
        hooks: this.hooks,
        hooksReadRecord: this.hooksReadRecord,
        window: this.opts.window ?? DEFAULT_WINDOW,
        publishTimeoutMs: this.opts.publishTimeoutMs ?? 10_000,
        maxIngestBytes: this.opts.maxIngestBytes ?? DEFAULT_MAX_INGEST_BYTES,
        limits: this.opts.limits,
        rotateMessages: this.opts.rotateMessages ?? 200_000,
        rotateMs: this.opts.rotateMs ?? 60_000,
        ingestBufferBytes: this.opts.ingestBufferBytes ?? DEFAULT_INGEST_BUFFER_BYTES,
        afterSeal: this.opts.afterSeal,
        now: this.opts.now ?? Date.now,
      },
      tail,
    );
    this.session = session;
    try {
      return await session.run();
    } catch (e) {
      if (isFatal(e)) throw e;
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'sealing session failed');
      return 'unavailable';
    } finally {
      this.cleanEnd = session.cleanEnd;
      this.sealed += session.sealedCount;
      this.session = undefined;
      this.log.info({ sealed: session.sealedCount, rejected: session.rejectedCount, next: session.state.nextSequence.toString() }, 'sealing session ended');
    }
  }

  /** Refills the recent-id set from the last records of the chain (headers only). */
  private async warmRecent(tail: ChainTail): Promise<void> {
    this.recent.clear();
    if (tail.sequence === 0n) return;
    const cap = BigInt(this.recent.capacity);
    const from = tail.sequence > cap ? tail.sequence - cap + 1n : 1n;
    for await (const e of readChain(this.nc, this.chainId, { fromSeq: from, toSeq: tail.sequence, headersOnly: true })) {
      const id = e.headers?.get(HEADERS.msgId);
      if (id) this.recent.add(eventKeyOfMsgId(id));
    }
  }
}
