/**
 * The agent's ordered delivery pipeline: events -> IngestBatch messages ->
 * JetStream (PubAck) or, when that fails, the fsync'd outbox.
 *
 * Invariants (each is what a test checks):
 * - An event's promise resolves only once its batch is durable: PubAck'ed by
 *   the ingest stream, or fsync'd in the outbox. Otherwise it rejects.
 * - Order: one ingest message is in flight at a time, and while the outbox
 *   holds anything, new batches are appended behind it instead of being
 *   published. Batches therefore reach the ingest stream in the order they
 *   were built, so events of a source are sealed in the order they were
 *   submitted (threat: a reordered job_completed before its job_dispatched).
 * - A batch keeps its Nats-Msg-Id for every retry (direct publish, outbox
 *   flush, flush after a restart): a retry of something already stored is
 *   dropped by the ingest stream's duplicate window.
 *
 * Batching: events join the open batch until it holds `maxEvents`, would
 * exceed `maxBytes`, or has waited `maxDelayMs`; while a publish is in flight
 * the next batch keeps filling, so batches grow with load.
 */
import type { ChainEvent } from '@hwledger/chain';
import { HwlError, type Logger } from '@hwledger/core';
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import type { AgentMetrics } from './agent-metrics.js';
import { IngestBatchBuilder, type SealedBatch } from './ingest-batch-builder.js';
import type { Outbox } from './outbox.js';


/**
 * An event that cannot fit one ingest message (`--batch-max-bytes`): a retry
 * cannot help. Code INVALID_ARGUMENT; its own class, so the hook answers
 * 400 EVENT_TOO_LARGE for exactly this and not for every invalid argument.
 */
export class EventTooLargeError extends HwlError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}
/**
 * The event's publish got no answer (a timeout, the connection lost while
 * waiting: the ingest stream may have stored it) and the outbox refused it
 * too (full, or a disk error). Neither "stored" nor "not stored" is true: the
 * hook answers 504 MAYBE_STORED, never 503 ("nothing stored"). A retry goes
 * out in another batch, under another Nats-Msg-Id: if the first copy was
 * stored, the sequencer dead-letters the second as duplicate_event (within
 * its --recent-ids horizon).
 */
export class MaybeStoredError extends HwlError {
  readonly mayBeStored = true;
  constructor(message: string, cause: unknown) {
    super('UNAVAILABLE', message, { cause });
  }
}
export type StoredIn = 'jetstream' | 'outbox';

export interface Acceptance {
  /** Where the event became durable first. */
  stored: StoredIn;
  /** The ingest stream already held this message (a retry). */
  duplicate: boolean;
}

/** What the shipper needs of the NATS connection (NatsLink). */
export interface ShipperLink {
  readonly connected: boolean;
  readonly jetstream: JetStreamClient | undefined;
  onceDown(cb: () => void): () => void;
  /** Re-creates what setup creates (the streams) after a publish no stream answered. */
  resetup?(reason: string): void;
}

/**
 * True for a publish that no stream answered: nats.js reports "no responders"
 * to a JetStream publish as JetStreamNotEnabled (not exported by name).
 */
function noStreamAnswered(e: unknown): boolean {
  return e instanceof Error && e.name === 'JetStreamNotEnabled';
}

/** Failures after which the message certainly is not in the stream: the server refused it, nobody could take it, or it was never sent. */
const NOT_STORED = new Set([
  'JetStreamApiError',
  'JetStreamNotEnabled',
  'NoRespondersError',
  'PermissionViolationError',
  'AuthorizationError',
  'ClosedConnectionError',
  'DrainingConnectionError',
  'InvalidArgumentError',
  'InvalidSubjectError',
  'InvalidOperationError',
]);

/** Whether a failed publish may still have been stored (no answer came: a timeout, a lost connection, anything unknown). */
function mayHaveBeenStored(e: unknown): boolean {
  let x: unknown = e;
  for (let depth = 0; x instanceof Error && depth < 4; depth++, x = x.cause) if (NOT_STORED.has(x.name)) return false;
  return true;
}

/** Running totals of one agent process (events). */
export interface ShipperStats {
  accepted: { jetstream: number; outbox: number };
  refused: number;
  published: { direct: number; outbox: number };
}

export interface ShipperOptions {
  subject: string;
  /**
   * The ingest stream's name, sent as Nats-Expected-Stream: a stored batch
   * that someone replays into another stream (a push consumer's deliver
   * subject, nats-io/nats-server#8274) is refused there.
   */
  stream: string;
  outbox: Outbox;
  link: ShipperLink;
  logger: Logger;
  metrics: AgentMetrics;
  maxEvents: number;
  maxBytes: number;
  maxDelayMs: number;
  publishTimeoutMs: number;
  /** The agent's secret for its message ids (msg-id-key.ts). */
  msgIdKey?: Uint8Array;
}

interface Deferred {
  promise: Promise<Acceptance>;
  resolve: (a: Acceptance) => void;
  reject: (e: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: (a: Acceptance) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<Acceptance>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Callers may drop the promise (telemetry); a refusal is logged and counted here.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

interface Pending {
  batch: SealedBatch;
  done: Deferred;
}

export class Shipper {
  private builder: IngestBatchBuilder;
  private openDone: Deferred | undefined;
  private openSince = 0;
  private readonly queue: Pending[] = [];
  private pendingEvents = 0;
  private wakeFn: (() => void) | undefined;
  private stopping = false;
  private flushDeadline = Number.POSITIVE_INFINITY;
  private retryAt = 0;
  private failures = 0;
  /** Outbox frames flushed since the last spill, and how many frames that spill added (while flushing). */
  private flushedSinceSpill = 0;
  private lastSpillFrames = 0;
  private loop: Promise<void> | undefined;
  private readonly idleWaiters = new Set<() => void>();
  readonly stats: ShipperStats = { accepted: { jetstream: 0, outbox: 0 }, refused: 0, published: { direct: 0, outbox: 0 } };

  constructor(private readonly o: ShipperOptions) {
    if (!Number.isSafeInteger(o.maxEvents) || o.maxEvents < 1) throw new RangeError('batch max events must be >= 1');
    this.builder = new IngestBatchBuilder(o.maxBytes, o.msgIdKey);
  }

  /** Events submitted and not yet accepted or refused. */
  get pending(): number {
    return this.pendingEvents;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Wakes the loop (an event arrived, the connection came back). */
  wake(): void {
    const w = this.wakeFn;
    this.wakeFn = undefined;
    w?.();
  }

  /**
   * Adds an event to the open batch. Throws (synchronously) when the agent is
   * stopping or the event cannot be encoded; the promise settles when the
   * event is durable or definitely refused.
   */
  add(event: ChainEvent): Promise<Acceptance> {
    if (this.stopping) throw new HwlError('UNAVAILABLE', 'the agent is stopping');
    const enc = IngestBatchBuilder.encode(event);
    if (IngestBatchBuilder.framedSize(enc) + 2 > this.builder.maxBytes) {
      throw new EventTooLargeError(`event ${event.eventId} encodes to ${enc.length} bytes, more than an ingest message may carry`);
    }
    if (this.builder.count > 0 && !this.builder.fits(enc)) this.sealOpen();
    if (this.builder.count === 0) {
      this.openDone = deferred();
      this.openSince = Date.now();
    }
    this.builder.add(event, enc);
    this.pendingEvents++;
    const p = this.openDone!.promise;
    if (this.builder.count >= this.o.maxEvents) this.sealOpen();
    this.wake();
    return p;
  }

  private sealOpen(): void {
    if (this.builder.count === 0) return;
    this.queue.push({ batch: this.builder.seal(), done: this.openDone! });
    this.openDone = undefined;
  }

  /** Resolves once `pending` is below `limit` (backpressure for generators). */
  async waitBelow(limit: number): Promise<void> {
    while (this.pendingEvents >= limit) {
      await new Promise<void>((r) => this.idleWaiters.add(r));
    }
  }

  private settle(p: Pending, result: Acceptance | { error: unknown }): void {
    this.pendingEvents -= p.batch.events;
    if ('error' in result) {
      this.stats.refused += p.batch.events;
      p.done.reject(result.error);
    } else {
      this.stats.accepted[result.stored] += p.batch.events;
      this.o.metrics.accepted.inc({ stored: result.stored }, p.batch.events);
      p.done.resolve(result);
    }
    const waiters = [...this.idleWaiters];
    this.idleWaiters.clear();
    for (const w of waiters) w();
  }

  /** Batches ready to leave: sealed ones, plus the open one once it has lingered long enough. */
  private ready(all: boolean): Pending[] {
    if (this.queue.length === 0 && this.builder.count > 0 && (this.stopping || Date.now() - this.openSince >= this.o.maxDelayMs)) this.sealOpen();
    if (this.queue.length === 0) return [];
    return all ? this.queue.splice(0) : [this.queue.shift()!];
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = Number.isFinite(ms) ? setTimeout(() => this.wake(), Math.max(0, ms)) : undefined;
      this.wakeFn = () => {
        if (t !== undefined) clearTimeout(t);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    for (;;) {
      try {
        if (this.o.outbox.isEmpty && this.o.link.connected) {
          const next = this.ready(false);
          if (next.length > 0) {
            await this.publishDirect(next[0]!);
            continue;
          }
        } else {
          // Behind a non-empty outbox (or with NATS down) new batches queue up in the outbox: FIFO.
          const flushable = !this.o.outbox.isEmpty && this.o.link.connected && Date.now() >= this.retryAt && !(this.stopping && Date.now() >= this.flushDeadline);
          // While the backlog is being flushed, new batches join it only once more frames
          // have left it than the last spill added: with one frame flushed per spill (a
          // PubAck slower than the batch delay, events arriving all the time) it would
          // never drain, and its segment, rotated only when it drains, would grow forever.
          if (!flushable || this.stopping || this.flushedSinceSpill > this.lastSpillFrames) {
            const all = this.ready(true);
            if (all.length > 0) {
              await this.spill(all);
              this.flushedSinceSpill = 0;
              this.lastSpillFrames = flushable ? all.length : 0;
              continue;
            }
          }
          if (flushable) {
            await this.flushOne();
            continue;
          }
        }
        if (this.stopping && this.queue.length === 0 && this.builder.count === 0) {
          if (this.o.outbox.isEmpty || !this.o.link.connected || Date.now() >= this.flushDeadline) return;
        }
        let wait = Number.POSITIVE_INFINITY;
        if (this.builder.count > 0) wait = this.openSince + this.o.maxDelayMs - Date.now();
        if (!this.o.outbox.isEmpty && this.o.link.connected) wait = Math.min(wait, this.retryAt - Date.now());
        if (this.stopping) wait = Math.min(wait, Math.max(0, this.flushDeadline - Date.now()), 50);
        await this.idle(wait);
      } catch (e) {
        // Never let the loop die: a broken step is retried after a pause.
        this.o.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'agent: delivery step failed');
        this.noteFailure();
        await this.idle(this.retryAt - Date.now());
      }
    }
  }

  private publish(js: JetStreamClient, msgId: string, body: Uint8Array): Promise<PubAck> {
    let off: () => void = () => undefined;
    const lost = new Promise<never>((_, reject) => {
      off = this.o.link.onceDown(() => reject(new HwlError('UNAVAILABLE', 'NATS connection lost while publishing')));
    });
    const pub = js.publish(this.o.subject, body, { msgID: msgId, expect: { streamName: this.o.stream }, timeout: this.o.publishTimeoutMs });
    pub.catch(() => undefined);
    lost.catch(() => undefined);
    return Promise.race([pub, lost]).finally(off);
  }

  private noteFailure(e?: unknown): void {
    this.failures++;
    this.retryAt = Date.now() + Math.min(2_000, 50 * 2 ** Math.min(this.failures, 6));
    if (e !== undefined) {
      this.o.metrics.publishFailures.inc();
      if (noStreamAnswered(e)) this.o.link.resetup?.(e instanceof Error ? e.message : String(e));
      if (this.failures === 1 || this.failures % 20 === 0) {
        this.o.logger.warn({ err: e instanceof Error ? e.message : String(e), failures: this.failures, outboxEvents: this.o.outbox.depthEvents }, 'agent: publish failed; using the outbox');
      }
    }
  }

  private async publishDirect(p: Pending): Promise<void> {
    const js = this.o.link.jetstream;
    if (!js) return this.spill([p]);
    let ack: PubAck;
    try {
      ack = await this.publish(js, p.batch.msgId, p.batch.body);
    } catch (e) {
      this.noteFailure(e);
      // It may have been stored anyway (a lost PubAck): the outbox replays it
      // with the same Nats-Msg-Id, which the stream deduplicates.
      return this.spill([p], mayHaveBeenStored(e) ? e : undefined);
    }
    this.failures = 0;
    this.stats.published.direct += p.batch.events;
    this.o.metrics.published.inc({ via: 'direct' }, p.batch.events);
    this.o.metrics.batches.inc({ via: 'direct' });
    if (ack.duplicate) this.o.metrics.duplicates.inc(p.batch.events);
    this.settle(p, { stored: 'jetstream', duplicate: ack.duplicate });
  }

  /** Keeps batches in the outbox; `unanswered`: their publish failed without an answer (they may be in the stream already). */
  private async spill(ps: Pending[], unanswered?: unknown): Promise<void> {
    try {
      await this.o.outbox.append(ps.map((p) => ({ msgId: p.batch.msgId, body: p.batch.body, events: p.batch.events })));
    } catch (e) {
      const events = ps.reduce((n, p) => n + p.batch.events, 0);
      this.o.metrics.refused.inc(events);
      this.o.logger.error({ err: e instanceof Error ? e.message : String(e), events, mayBeStored: unanswered !== undefined }, 'agent: events refused: NATS and the outbox both failed');
      const why = e instanceof Error ? e.message : String(e);
      const error =
        unanswered !== undefined
          ? new MaybeStoredError(
              `the publish got no answer (${unanswered instanceof Error ? unanswered.message : String(unanswered)}), so the ingest stream may hold the event, and the outbox refused it (${why})`,
              e,
            )
          : e instanceof HwlError
            ? e
            : new HwlError('UNAVAILABLE', `outbox write failed: ${why}`, { cause: e });
      for (const p of ps) this.settle(p, { error });
      return;
    }
    for (const p of ps) this.settle(p, { stored: 'outbox', duplicate: false });
  }

  private async flushOne(): Promise<void> {
    const js = this.o.link.jetstream;
    if (!js) return;
    const entry = await this.o.outbox.peek();
    if (!entry) return;
    let ack: PubAck;
    try {
      ack = await this.publish(js, entry.msgId, entry.body);
    } catch (e) {
      this.noteFailure(e);
      return;
    }
    await this.o.outbox.commit();
    this.flushedSinceSpill++;
    this.failures = 0;
    this.stats.published.outbox += entry.events;
    this.o.metrics.published.inc({ via: 'outbox' }, entry.events);
    this.o.metrics.batches.inc({ via: 'outbox' });
    if (ack.duplicate) this.o.metrics.duplicates.inc(entry.events);
    if (this.o.outbox.isEmpty) this.o.logger.info('agent: outbox flushed');
  }

  /**
   * Stops taking events, ships what was taken (publish or outbox) and tries
   * to flush the outbox for up to `flushTimeoutMs` while connected.
   */
  async stop(flushTimeoutMs: number): Promise<void> {
    this.stopping = true;
    this.flushDeadline = Date.now() + flushTimeoutMs;
    this.start();
    this.wake();
    await this.loop;
  }
}
