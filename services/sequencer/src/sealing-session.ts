/**
 * One sealing session: from a verified chain tail, consume the ingest stream
 * in order after the tail's watermark, validate, seal and append, until
 * stopped, fenced or failed. A new session (re-reading the tail) starts after
 * any failure, so no state survives an uncertain outcome.
 *
 * Invariants (docs/sequencer.md):
 * - Records are appended with Nats-Expected-Last-Sequence = sequence - 1, so
 *   stream sequence == record sequence and another writer's append makes
 *   ours fail (FENCED) instead of forking the chain.
 * - Every record carries the ingest position of its event (watermark); the
 *   session skips every event at or before the tail's watermark, so nothing
 *   is sealed twice after a crash, however old the redelivery.
 * - Ingest is consumed in order and an event is rejected (dead-lettered,
 *   awaited) before any later event is appended, so a sealed watermark also
 *   covers every rejected event before it: nothing is skipped.
 * - An ingest message is acked only after every record made from it is
 *   stored (PubAck) and every rejected event of it is dead-lettered; the
 *   stored prefix is purged from the ingest stream up to the watermark, at
 *   the start of a session, while no consumer of ours is active (purging
 *   under an active pull consumer stalls its delivery on nats-server 2.9
 *   until the pull expires); a session rotates (ends cleanly and a new one
 *   starts from the tail) after `rotateMessages` ingest messages or
 *   `rotateMs`, which bounds the ingest stream.
 */
import type { Logger } from 'pino';
import { nuid, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { hash as nodeHash } from 'node:crypto';
import { DEFAULT_LIMITS, decodeRecord, sealEvent, type ChainEvent, type ChainRecord, type KindName, type ValidationLimits } from '@hwledger/chain';
import { HwlError, recordMsgId, streams, subjects } from '@hwledger/core';
import { nativeHash, nativeSealLink, type SealLink } from '@hwledger/native-hash';
import { admitIngestMessage, rejectionOf, singleEventBatch, splitBatchEvents, type Rejection } from './admission.js';
import { AppendPipeline, type AppendOutcome } from './append-pipeline.js';
import type { ChainTail } from './chain-tail.js';
import { publishDeadLetters, type DeadLetter } from './dead-letter.js';
import { SerialRunner } from './serial-runner.js';
import type { Lease } from './leader-lease.js';
import type { SequencerMetrics } from './metrics.js';
import type { RecentIds } from './recent-ids.js';
import { isCovered, type Watermark } from './watermark.js';
import { EncodedHeaders, encodeRecordHeaders, LINK_HASH_AT, LINK_KEY_AT, LINK_LAST_ID_AT, LINK_LAST_ID_MAX, recordLinkMaxHeader, recordLinkState } from './record-headers.js';
import { canonicalPrefix, fastAdmit, type FastBatch, type FastEvent } from './fast-ingest.js';
import { SourceOwners } from './source-owner.js';
import { nativeChainHash } from './native-hash.js';
import { Slab } from './slab.js';
import { BatchKeys } from './batch-keys.js';

/** Name prefix of the sequencer's ingest consumers (each session creates `<prefix>-<nuid>` and deletes the others). */
export const INGEST_CONSUMER = 'hwl-sequencer';

/** What an onSealedLink hook receives: the record's place in the chain, nothing copied for it. */
export interface SealedLink {
  readonly sequence: bigint;
  readonly hash: Uint8Array;
  readonly prevHash: Uint8Array;
}

export interface SealedRecord extends SealedLink {
  readonly canonical: Uint8Array;
  readonly record: ChainRecord;
}

export type SessionOutcome =
  /** stop() was called. */
  | 'stopped'
  /** Ended cleanly to purge the handled ingest prefix; start the next session at once. */
  | 'rotate'
  /** The lease was lost or ran out: stop appending, compete again. */
  | 'lost'
  /** An append was refused by the fence (another writer) or found a duplicate: re-read the tail. */
  | 'fenced'
  /** NATS trouble (timeouts, missing stream, consumer deleted): back off, re-read the tail. */
  | 'unavailable';

export interface SessionContext {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  chainId: string;
  log: Logger;
  metrics: SequencerMetrics;
  lease: Lease;
  /** Ids sealed recently (rebuilt from the chain for each session). */
  recent: RecentIds;
  hooks: SerialRunner<SealedLink> | undefined;
  /** True when the hook reads the record (onSealed): it gets a copy of the bytes. False for onSealedLink: it gets the token itself. */
  hooksReadRecord: boolean;
  window: number;
  publishTimeoutMs: number;
  maxIngestBytes: number;
  limits: ValidationLimits | undefined;
  /** Rotate after this many ingest messages handled (bounds the unpurged prefix). */
  rotateMessages: number;
  /** Ingest bytes delivered ahead of sealing, about (sizes max_ack_pending). */
  ingestBufferBytes: number;
  /** Rotate after this long, if anything was handled. */
  rotateMs: number;
  afterSeal: ((sequence: bigint) => void) | undefined;
  now: () => number;
}

/**
 * One append in flight, and (once stored) what onSealed receives: one object
 * per record. `record` is decoded from the canonical bytes on first use (the
 * fast path never builds it; hooks rarely need it).
 */
class Token implements SealedRecord {
  private decoded: ChainRecord | undefined;
  constructor(
    readonly n: number,
    readonly sequence: bigint,
    readonly hash: Uint8Array,
    readonly prevHash: Uint8Array,
    readonly canonical: Uint8Array,
    readonly kind: KindName,
    /** The record's watermark (Watermark's two fields, without an object per record). */
    readonly ingestSeq: number,
    readonly index: number,
    readonly observedAtMs: number,
    record: ChainRecord | undefined,
  ) {
    this.decoded = record;
  }
  get record(): ChainRecord {
    return (this.decoded ??= decodeRecord(this.canonical));
  }
  /** This record with canonical bytes of its own (slab.ts: views must not be kept). */
  detached(): SealedRecord {
    const canonical = this.canonical.slice();
    let decoded = this.decoded;
    return {
      sequence: this.sequence,
      hash: this.hash,
      prevHash: this.prevHash,
      canonical,
      get record(): ChainRecord {
        return (decoded ??= decodeRecord(canonical));
      },
    };
  }
}

/** Writes a u64 given as a safe integer, big-endian (spec: "Primitives"). */
function putU64(b: Uint8Array, at: number, v: number): void {
  const hi = Math.floor(v / 4294967296);
  const lo = v >>> 0;
  b[at] = hi >>> 24;
  b[at + 1] = (hi >>> 16) & 0xff;
  b[at + 2] = (hi >>> 8) & 0xff;
  b[at + 3] = hi & 0xff;
  b[at + 4] = lo >>> 24;
  b[at + 5] = (lo >>> 16) & 0xff;
  b[at + 6] = (lo >>> 8) & 0xff;
  b[at + 7] = lo & 0xff;
}

interface PendingAck {
  msg: JsMsg;
  /** The message may be acked once append #lastToken (and all before it) is stored. */
  lastToken: number;
}

const HOOK_BACKLOG_LIMIT = 10_000;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MAX_SAFE_NUMBER = Number.MAX_SAFE_INTEGER;
/**
 * Ingest messages delivered but not yet acked, at most: bounds what the
 * callback can queue while sealing waits. Sized per session from the ingest
 * stream's average message size so the queue holds about ingestBufferBytes.
 */
const MAX_ACK_PENDING = 2_048;
const MIN_ACK_PENDING = 32;

interface ToSeal {
  index: number;
  /** The event key: 48 hex digits (reference path) or its 24 bytes as latin1 (fast path). */
  key: string;
  /** Reference path: the validated event. */
  event: ChainEvent | undefined;
  /** Fast path: the event's canonical tail in `batch.tail`. */
  fast: FastEvent | undefined;
  batch: FastBatch | undefined;
}

/** A rejected event's own bytes, as a one-event batch (for its dead letter). */
function rawEventOf(m: JsMsg, i: number): Uint8Array {
  const b = splitBatchEvents(m.data)[i];
  return b ? singleEventBatch(b) : m.data;
}

/**
 * The ingest stream sequence of a delivered message, read from its reply
 * subject ($JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.… in the
 * 9-token form, $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<stream seq>.…
 * in the 11+ token form) without nats.js's split into an info object per
 * message; anything unexpected falls back to `m.seq`.
 */
export function streamSeqOfReply(reply: string): number | undefined {
  if (!reply.startsWith('$JS.ACK.')) return undefined;
  // The dots after "$JS.ACK." (dots 1 and 2), found with indexOf: a native
  // scan, about a third of the time of a charCodeAt loop over ~100 chars.
  const dot = DOTS;
  let dots = 2;
  for (let i = reply.indexOf('.', 8); i >= 0; i = reply.indexOf('.', i + 1)) {
    dots++;
    if (dots <= 8) dot[dots] = i;
  }
  const tokens = dots + 1;
  let a: number;
  let b: number;
  if (tokens === 9) [a, b] = [dot[5]! + 1, dot[6]!];
  else if (tokens >= 11) [a, b] = [dot[7]! + 1, dot[8]!];
  else return undefined;
  if (b <= a || b - a > 16) return undefined;
  let v = 0;
  for (let i = a; i < b; i++) {
    const c = reply.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    v = v * 10 + c;
  }
  return v <= Number.MAX_SAFE_INTEGER ? v : undefined;
}
/** Positions of a reply subject's dots 3..8 (index = dot number), reused across calls. */
const DOTS = new Int32Array(9);

function ingestSeqOf(m: JsMsg): number {
  // JsMsgImpl has `reply` (the JsMsg interface does not declare it).
  const reply = (m as unknown as { reply?: unknown }).reply;
  return (typeof reply === 'string' ? streamSeqOfReply(reply) : undefined) ?? m.seq;
}

/** The fast path declined a message after all (a duplicate to dead-letter): use the reference path. */
const FALLBACK = Symbol('fallback');

export class SealingSession {
  private nextSeq: bigint;
  private prevHash: Uint8Array;
  private lastSealedAt: number;
  /** The tail's watermark; the origin instead when the ingest stream was recreated after it (createConsumer). */
  private watermark: Watermark;
  /** The watermark of the last stored record (confirmedWatermark's fields). */
  private confirmedIngestSeq: number;
  private confirmedIndex: number;
  private issued = 0;
  private confirmedN = 0;
  private lastIngestSeq = 0;
  private readonly acks: PendingAck[] = [];
  private ackHead = 0;
  private outcome: SessionOutcome | undefined;
  private appendFailed = false;
  private confirmedSeq: bigint;
  private confirmedHash: Uint8Array;
  private fatal: Error | undefined;
  private messages: ConsumerMessages | undefined;
  private onEnded: (() => void) | undefined;
  private readonly feeder: SerialRunner<JsMsg>;
  private readonly consumerName = `${INGEST_CONSUMER}-${nuid.next()}`;
  /** The ingest sequence the next delivered message must have (undefined: not known yet). */
  private expectedNext: number | undefined;
  private readonly pipeline: AppendPipeline<Token>;
  private readonly chainStream: string;
  private readonly ingestStream: string;
  /** format_version and chain_id: the constant start of every canonical record of this chain. */
  private readonly prefix: Uint8Array;
  /** HWL_CHAIN_<chain> as bytes: every record carries it as Nats-Expected-Stream (record-headers.ts). */
  private readonly chainStreamBytes: Uint8Array;
  private readonly limits: ValidationLimits;
  /** Per-record debug lines (the level is read once per session, not per record). */
  private readonly debug: boolean;
  /** The keys of the message being admitted (fast path): a repeat within one message. */
  private readonly batchKeys = new BatchKeys();
  /** Short-lived bytes of records in flight (slab.ts); hooks get copies. */
  private readonly slab = new Slab();
  /** Which sources each ingest subject may carry (source-owner.ts). */
  private readonly owners: SourceOwners;

  /** Metric children for this chain, resolved once (label lookups are not free per record). */
  private readonly m: {
    sealed: Partial<Record<ChainEvent['kind'], { inc(n?: number): void }>>;
    inference: { inc(n?: number): void };
    head: { set(v: number): void };
    latency: { observe(v: number): void };
  };

  /** Records stored by this session (PubAck received). */
  sealedCount = 0;
  /** Events or messages dead-lettered by this session. */
  rejectedCount = 0;

  constructor(
    private readonly ctx: SessionContext,
    readonly tail: ChainTail,
  ) {
    this.nextSeq = tail.sequence + 1n;
    this.prevHash = tail.hash;
    this.lastSealedAt = Number(tail.sealedAtMs);
    this.watermark = tail.watermark;
    this.confirmedIngestSeq = tail.watermark.ingestSeq;
    this.confirmedIndex = tail.watermark.index;
    this.confirmedSeq = tail.sequence;
    this.confirmedHash = tail.hash;
    // The consumer starts at the watermark's own message (partly or wholly sealed).
    this.expectedNext = tail.watermark.ingestSeq > 0 ? tail.watermark.ingestSeq : undefined;
    this.chainStream = streams.chain(ctx.chainId);
    this.ingestStream = streams.ingest(ctx.chainId);
    this.prefix = canonicalPrefix(ctx.chainId);
    this.chainStreamBytes = new TextEncoder().encode(this.chainStream);
    if (nativeSealLink) {
      const state = recordLinkState(this.chainStreamBytes);
      this.link = { seal: nativeSealLink, state, nums: new Float64Array(4), hash: state.subarray(LINK_HASH_AT, LINK_HASH_AT + 32), maxHeader: recordLinkMaxHeader(state) };
    }
    this.limits = ctx.limits ?? DEFAULT_LIMITS;
    this.owners = new SourceOwners(ctx.chainId);
    this.debug = ctx.log.isLevelEnabled('debug');
    this.m = {
      sealed: {},
      inference: ctx.metrics.inferenceCompleted.labels(ctx.chainId),
      head: ctx.metrics.head.labels(ctx.chainId),
      latency: ctx.metrics.sealLatency.labels(ctx.chainId),
    };
    this.feeder = new SerialRunner<JsMsg>(
      (m) => this.handle(m),
      (e) => this.fail('unavailable', `sealing failed: ${e instanceof Error ? e.message : String(e)}`),
    );
    this.pipeline = new AppendPipeline<Token>(ctx.nc, {
      window: ctx.window,
      timeoutMs: ctx.publishTimeoutMs,
      onSettled: (t, o) => this.onSettled(t, o),
    });
  }

  /** Ends the session at the next opportunity (in-flight appends still settle). */
  stop(outcome: SessionOutcome): void {
    if (this.outcome) return;
    this.outcome = outcome;
    this.onEnded?.();
  }

  private fail(outcome: SessionOutcome, message: string): void {
    if (this.outcome) return;
    this.ctx.log.warn({ outcome, nextSequence: this.nextSeq.toString() }, message);
    this.stop(outcome);
  }

  private async createConsumer(): Promise<ConsumerMessages> {
    const { jsm, js } = this.ctx;
    // Remove every earlier sequencer consumer (a crashed or stale leader's):
    // a stale process must not keep pulling messages this session needs.
    for await (const ci of jsm.consumers.list(this.ingestStream)) {
      if (!ci.name.startsWith(INGEST_CONSUMER)) continue;
      try {
        await jsm.consumers.delete(this.ingestStream, ci.name);
      } catch (e) {
        if (!(e instanceof JetStreamApiError && e.code === 10014) && !(e instanceof Error && /not found/i.test(e.message))) throw e;
      }
    }
    await this.checkIngestEpoch();
    await this.purgeHandledPrefix();
    const start = this.watermark.ingestSeq;
    // A name of its own: pulls of a stale session (same durable name) would
    // otherwise be served by this session's consumer and split its messages.
    await jsm.consumers.add(this.ingestStream, {
      durable_name: this.consumerName,
      ack_policy: AckPolicy.All,
      ...(start > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start } : { deliver_policy: DeliverPolicy.All }),
      // Bounds what the callback can queue while sealing waits (memory stays flat).
      max_ack_pending: await this.maxAckPending(),
      ack_wait: 120_000_000_000, // 2 min in ns: redeliveries are skipped anyway
      max_deliver: -1,
    });
    const consumer = await js.consumers.get(this.ingestStream, this.consumerName);
    // Callback delivery: every message of a socket read is handled in one
    // turn, and the appends they produce leave in one write.
    return consumer.consume({ max_messages: 1024, callback: (m) => this.feeder.push(m) });
  }

  async run(): Promise<SessionOutcome> {
    const { log } = this.ctx;
    const ended = new Promise<void>((resolve) => (this.onEnded = resolve));
    if (this.outcome) this.onEnded?.();
    let messages: ConsumerMessages;
    try {
      messages = await this.createConsumer();
    } catch (e) {
      // Nothing was appended: release the PubAck subscription and timer (a
      // session is made per retry, and JetStream may be down for long).
      this.pipeline.close();
      throw e;
    }
    this.messages = messages;
    void this.watchStatus(messages);
    const startedAt = performance.now();
    const rotateTimer = setInterval(() => {
      const handled = this.confirmedIngestSeq - this.watermark.ingestSeq;
      if (handled >= this.ctx.rotateMessages || (handled > 0 && performance.now() - startedAt >= this.ctx.rotateMs)) this.stop('rotate');
    }, 1_000);
    rotateTimer.unref?.();
    log.info(
      { tailSequence: this.tail.sequence.toString(), watermark: this.watermark },
      `sealing from sequence ${this.nextSeq} (ingest after ${this.watermark.ingestSeq}/${this.watermark.index})`,
    );
    try {
      await ended;
    } finally {
      clearInterval(rotateTimer);
      await messages.close().catch(() => undefined);
      this.feeder.clear();
      await this.feeder.idle();
      // Let appends already sent settle (each gets its PubAck or times out),
      // so their ingest messages are acked and onSealed sees them.
      await this.pipeline.drained();
      this.pipeline.close();
      await this.ctx.hooks?.idle();
      if (this.outcome === 'stopped') {
        // Clean shutdown: leave no consumer behind (a successor deletes it anyway).
        await this.ctx.jsm.consumers.delete(this.ingestStream, this.consumerName).catch(() => undefined);
      }
    }
    if (this.fatal) throw this.fatal;
    return this.outcome ?? 'stopped';
  }

  private async watchStatus(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const s of messages.status()) {
        if (s.type === 'consumer_deleted' || s.type === 'consumer_not_found' || s.type === 'stream_not_found') {
          this.fail('unavailable', `ingest consumer lost (${s.type}): another sequencer may have taken over`);
          return;
        }
      }
    } catch {
      // iterator closed
    }
  }

  /**
   * Handles one ingest message. Returns nothing when it could be handled
   * synchronously (the common case), a promise when it has to wait (window
   * full, dead letters to store); the feeder holds later messages meanwhile.
   */
  private handle(m: JsMsg): Promise<void> | undefined {
    if (this.outcome) return undefined;
    const ingestSeq = ingestSeqOf(m);
    if (ingestSeq > MAX_SAFE_NUMBER) {
      // Ingest sequences are exact numbers below 2^53 (the watermark, the gap
      // check, the redelivery check): past that, one could be taken for another
      // and skipped. Stop for good, saying what to do, rather than risk it.
      this.fatal = new HwlError(
        'FAILED_PRECONDITION',
        `ingest stream ${this.ingestStream} is past sequence 2^53 (${m.seq}): the sequencer cannot track it exactly; ` +
          'recreate the ingest stream (a buffer: everything sealed is on the chain) and restart',
      );
      this.stop('unavailable');
      return undefined;
    }
    // A redelivery of a message this session already handled (ack_wait ran
    // out while it was in flight): its own outcome acks it.
    if (ingestSeq <= this.lastIngestSeq) return undefined;
    // Nothing may be skipped: the watermark only means "everything before
    // was handled" if every session handles ingest contiguously.
    if (this.expectedNext !== undefined && ingestSeq > this.expectedNext) return this.checkGap(m, this.expectedNext);
    return this.process(m, ingestSeq);
  }

  /** A hole in delivery: fine if the messages are gone from the stream, fatal to the session otherwise. */
  private async checkGap(m: JsMsg, missing: number): Promise<void> {
    const held = await this.ctx.jsm.streams.getMessage(this.ingestStream, { seq: missing }).catch(() => undefined);
    if (held === undefined || held !== null) {
      this.fail('unavailable', `ingest delivery skipped message ${missing} (got ${m.seq}); restarting from the chain tail`);
      return;
    }
    this.ctx.log.warn({ missing, got: m.seq }, 'ingest messages missing from the stream (deleted outside the sequencer)');
    await this.process(m, m.seq);
  }

  private process(m: JsMsg, ingestSeq: number): Promise<void> | undefined {
    if (this.outcome) return undefined;
    this.lastIngestSeq = ingestSeq;
    this.expectedNext = ingestSeq + 1;
    if (ingestSeq < this.watermark.ingestSeq) {
      this.ackLater(m); // handled by an earlier session (sealed or dead-lettered)
      return undefined;
    }
    // Fast path (fast-ingest.ts): plain, valid messages straight to canonical
    // bytes; anything else, and every rejection, goes the reference way below.
    // An event may only speak for the node whose subject carried it (source-owner.ts).
    const owner = this.owners.of(m.subject);
    const fast = fastAdmit(m.data, this.limits, this.ctx.maxIngestBytes, this.slab, owner);
    if (fast !== undefined) {
      const r = this.processFast(m, ingestSeq, fast);
      if (r !== FALLBACK) return r;
    }
    const admission = admitIngestMessage(m.data, { maxBytes: this.ctx.maxIngestBytes, owner, ...(this.ctx.limits ? { limits: this.ctx.limits } : {}) });
    if (!admission.ok) {
      return this.deadLetter([{ body: m.data, ...admission.rejection, origSubject: m.subject, ingestSeq, index: undefined }]).then(() => {
        if (!this.outcome) this.enqueueAck(m);
      });
    }
    const events = admission.events;
    const count = events.length;
    let raw: Uint8Array[] | undefined;
    const rawOf = (_m: JsMsg, i: number): Uint8Array => {
      raw ??= splitBatchEvents(m.data);
      const b = raw[i];
      return b ? singleEventBatch(b) : m.data;
    };
    const letters: DeadLetter[] = [];
    const toSeal: ToSeal[] = [];
    let batchIds: Set<string> | undefined;
    for (let i = 0; i < count; i++) {
      if (isCovered(ingestSeq, i, this.watermark)) continue;
      const a = events[i]!;
      if (!a.ok) {
        letters.push(this.letter(m, rawOf(m, i), i, a.rejection));
        continue;
      }
      const key = recordMsgId(a.event.source, a.event.eventId);
      if (this.ctx.recent.has(key) || batchIds?.has(key)) {
        letters.push(
          this.letter(m, rawOf(m, i), i, {
            code: 'duplicate_event',
            reason: `event ${JSON.stringify(a.event.eventId)} of source ${JSON.stringify(a.event.source)} is already on the chain`,
          }),
        );
        continue;
      }
      if (count > 1) (batchIds ??= new Set()).add(key);
      toSeal.push({ index: i, event: a.event, key, fast: undefined, batch: undefined });
    }
    // Rejections first: they must be durable before any later event's record is.
    if (letters.length > 0) {
      return this.deadLetter(letters).then(() => this.sealFrom(m, ingestSeq, count, toSeal, 0, rawOf));
    }
    return this.sealFrom(m, ingestSeq, count, toSeal, 0, rawOf);
  }

  /** process() for a message the fast path accepted; FALLBACK when an event is a duplicate (the reference path dead-letters it). */
  private processFast(m: JsMsg, ingestSeq: number, batch: FastBatch): Promise<void> | undefined | typeof FALLBACK {
    const events = batch.events;
    const count = events.length;
    const toSeal: ToSeal[] = [];
    const batchKeys = this.batchKeys;
    if (count > 1) batchKeys.reset(count);
    for (let i = 0; i < count; i++) {
      const f = events[i]!;
      if (isCovered(ingestSeq, i, this.watermark)) continue;
      if (this.ctx.recent.hasBinary(f.keyBinary) || (count > 1 && !batchKeys.add(f.keyBinary))) return FALLBACK;
      toSeal.push({ index: i, key: f.keyBinary, event: undefined, fast: f, batch });
    }
    return this.sealFrom(m, ingestSeq, count, toSeal, 0, rawEventOf);
  }

  /** Appends toSeal[from..], synchronously while the window has room; then acks the message. */
  private sealFrom(m: JsMsg, ingestSeq: number, count: number, toSeal: ToSeal[], from: number, rawOf: (m: JsMsg, i: number) => Uint8Array): Promise<void> | undefined {
    // The lease and the clock are read once per synchronous burst (every
    // append below is sent in this same turn, well within the lease's
    // margin), not once per record: each reading costs about 40 ns.
    let now = -1;
    for (let k = from; k < toSeal.length; k++) {
      if (this.outcome) return undefined;
      if (!this.pipeline.hasCapacity()) {
        return this.pipeline.waitForCapacity().then(() => this.sealFrom(m, ingestSeq, count, toSeal, k, rawOf));
      }
      if (this.ctx.hooks && this.ctx.hooks.backlog > HOOK_BACKLOG_LIMIT) {
        return this.ctx.hooks.idle().then(() => this.sealFrom(m, ingestSeq, count, toSeal, k, rawOf));
      }
      if (now < 0) {
        if (!this.ctx.lease.isValid()) {
          this.fail('lost', 'lease expired or lost: no more appends from this process');
          return undefined;
        }
        now = this.ctx.now();
      }
      if (this.nextSeq > MAX_SAFE) {
        this.refuseBeyondSafeSequences();
        return undefined;
      }
      const s = toSeal[k]!;
      if (!this.append(ingestSeq, s, count, now)) {
        const rest = k + 1;
        return this.deadLetter([this.letter(m, rawOf(m, s.index), s.index, this.lastSealError!)]).then(() => this.sealFrom(m, ingestSeq, count, toSeal, rest, rawOf));
      }
    }
    if (!this.outcome) this.enqueueAck(m);
    return undefined;
  }

  /**
   * The chain has reached record 2^53 - 1. JetStream's API gives stream
   * sequences as JSON numbers (nats.js parses them as doubles: the stream's
   * last sequence, PubAck sequences, message gets), which are exact only
   * below 2^53, so a record past it could not be placed or read back
   * reliably. Stop for good, saying so, rather than seal records the tail
   * check and the fence could no longer tell apart. Nothing is acked: the
   * events stay on the ingest stream.
   */
  private refuseBeyondSafeSequences(): void {
    this.fatal = new HwlError(
      'FAILED_PRECONDITION',
      `chain ${this.ctx.chainId} has reached record ${MAX_SAFE} (2^53 - 1), the last one JetStream's API numbers can address exactly; ` +
        'nothing more can be sealed on it: verify and archive it, and continue on a new chain id',
    );
    this.stop('unavailable');
  }

  private lastSealError: Rejection | undefined;
  private readonly unflushed: Partial<Record<KindName, number>> = {};
  private unflushedHead: bigint | undefined;
  private metricsScheduled = false;
  /** ctx.now() at the first confirmation of the current burst. */
  private settledAt = 0;
  private readonly flushMetrics = (): void => {
    this.metricsScheduled = false;
    const { chainId, metrics } = this.ctx;
    const m = this.m;
    for (const kind of Object.keys(this.unflushed) as KindName[]) {
      const n = this.unflushed[kind]!;
      if (n === 0) continue;
      (m.sealed[kind] ??= metrics.sealed.labels(chainId, kind)).inc(n);
      if (kind === 'inference_request_completed') m.inference.inc(n);
      this.unflushed[kind] = 0;
    }
    if (this.unflushedHead !== undefined) m.head.set(Number(this.unflushedHead));
    this.unflushedHead = undefined;
  };
  private ackNext: JsMsg | undefined;
  /** Chain subjects by kind, then tenant (no key string per record). */
  private readonly subjectCache = new Map<KindName, Map<string, string>>();
  private subjectCount = 0;

  private subjectOf(kind: KindName, tenant: string): string {
    let byTenant = this.subjectCache.get(kind);
    if (byTenant === undefined) this.subjectCache.set(kind, (byTenant = new Map()));
    let s = byTenant.get(tenant);
    if (s === undefined) {
      s = subjects.chain(this.ctx.chainId, kind, tenant);
      if (this.subjectCount++ < 10_000) byTenant.set(tenant, s);
    }
    return s;
  }
  /** Where the addon writes each link digest: a view of an ArrayBuffer, so never moved off the V8 heap (see NativeHash in @hwledger/native-hash). */
  private readonly linkOut = new Uint8Array(new ArrayBuffer(32));
  /**
   * Nats-Msg-Id of this session's previous append (undefined before the
   * first). Where the addon's sealLink runs, its state holds it instead
   * (both paths read and write it through lastMsgIdBytes/setLastMsgId).
   */
  private lastMsgId: Uint8Array | undefined;
  /** The addon's sealLink with this session's state, or undefined (HWL_NATIVE_INGEST=0, no addon). */
  private readonly link: { seal: SealLink; state: Uint8Array; nums: Float64Array; hash: Uint8Array; maxHeader: number } | undefined;

  private lastMsgIdBytes(): Uint8Array | undefined {
    const link = this.link;
    if (link === undefined) return this.lastMsgId;
    const n = link.state[LINK_LAST_ID_AT]!;
    return n === 0 ? undefined : link.state.slice(LINK_LAST_ID_AT + 1, LINK_LAST_ID_AT + 1 + n);
  }

  private setLastMsgId(id: Uint8Array): void {
    const link = this.link;
    if (link === undefined) {
      this.lastMsgId = id;
      return;
    }
    if (id.length > LINK_LAST_ID_MAX) throw new RangeError(`Nats-Msg-Id of ${id.length} bytes`); // 32 by construction (chain-msg-id.ts)
    link.state[LINK_LAST_ID_AT] = id.length;
    link.state.set(id, LINK_LAST_ID_AT + 1);
  }

  /** Seals one event at time `now` (ms) and sends its append; false (lastSealError set) when it cannot be encoded. */
  private append(ingestSeq: number, s: ToSeal, count: number, now: number): boolean {
    const sequence = this.nextSeq;
    const sealedAt = now > this.lastSealedAt ? now : this.lastSealedAt;
    const prevHash = this.prevHash;
    let canonical: Uint8Array;
    let hash: Uint8Array;
    let kind: KindName;
    let tenant: string;
    let observedAtMs: number;
    let record: ChainRecord | undefined;
    let headers: EncodedHeaders | undefined;
    const f = s.fast;
    // Every sequence here is below 2^53 (sealFrom stops the session before
    // record 2^53, handle() before an ingest sequence past it), so the fast
    // path's numbers and the addon's sealLink are exact.
    if (f !== undefined) {
      // prev_hash || canonical in one buffer: one native SHA-256 call for the link.
      const prefix = this.prefix;
      const at = 32 + prefix.length;
      const slab = this.slab;
      const len = at + 16 + f.end - f.start;
      const link = this.link;
      slab.room(link ? len + link.maxHeader : len);
      const b = slab.buf;
      const w = slab.at;
      b.set(prevHash, w);
      b.set(prefix, w + 32);
      putU64(b, w + at, Number(sequence));
      putU64(b, w + at + 8, sealedAt);
      const tail = s.batch!.tail;
      // The tail usually lies in this same slab chunk: copyWithin, no view per record.
      if (tail.buffer === b.buffer) b.copyWithin(w + at + 16, tail.byteOffset - b.byteOffset + f.start, tail.byteOffset - b.byteOffset + f.end);
      else b.set(tail.subarray(f.start, f.end), w + at + 16);
      hash = new Uint8Array(32); // small: on the V8 heap, no backing store of its own
      if (link) {
        // The addon's sealLink (native-hash src/record-link.c): the link and
        // the header block right after the record, in one call; the same
        // bytes as encodeRecordHeaders (record-link.unit.test.ts).
        const st = link.state;
        const key = s.key;
        for (let i = 0; i < 24; i++) st[LINK_KEY_AT + i] = key.charCodeAt(i);
        const nums = link.nums;
        nums[0] = Number(sequence);
        nums[1] = ingestSeq;
        nums[2] = s.index;
        nums[3] = count;
        const n = link.seal(b, w, len, w + len, nums, st);
        hash.set(link.hash);
        headers = new EncodedHeaders(new Uint8Array(b.buffer, b.byteOffset + w + len, n));
        slab.at = w + len + n;
      } else {
        slab.at = w + len;
        if (nativeHash) {
          // The addon (@hwledger/native-hash), into a scratch that already has
          // its own backing store, then copied: handed a fresh 32-byte array,
          // N-API would give it one first (about 1 µs per record).
          const out = this.linkOut;
          nativeHash.prefixedSha256Into(-1, b, w, len, out, 0);
          hash.set(out);
        } else {
          // 'binary' (latin1): one char per digest byte.
          const d = nodeHash('sha256', b.subarray(w, w + len), 'binary');
          for (let i = 0; i < 32; i++) hash[i] = d.charCodeAt(i);
        }
      }
      canonical = new Uint8Array(b.buffer, b.byteOffset + w + 32, len - 32);
      kind = f.kind;
      tenant = f.tenant;
      observedAtMs = f.observedAtMs;
    } else {
      const event = s.event!; // a ToSeal holds either a fast event or a decoded one
      let sealed;
      try {
        sealed = sealEvent(event, { chainId: this.ctx.chainId, sequence, sealedAtMs: BigInt(sealedAt) }, prevHash, nativeChainHash);
      } catch (e) {
        this.lastSealError = rejectionOf(e);
        return false;
      }
      canonical = sealed.canonical;
      hash = sealed.hash;
      record = sealed.record;
      kind = event.kind;
      tenant = event.tenant;
      observedAtMs = Number(event.observedAtMs);
    }
    if (headers === undefined) {
      // The fence (docs/sequencer.md, "Fencing"): the record lands only at
      // stream sequence `sequence`, and (after this session's first append)
      // only right after this writer's own previous record.
      const encoded = encodeRecordHeaders({
        stream: this.chainStreamBytes,
        key: s.key,
        keyIsBinary: s.fast !== undefined,
        hash,
        prevHash,
        sequence,
        ingestSeq,
        index: s.index,
        count,
        expectedLastMsgId: this.lastMsgIdBytes(),
      }, this.slab);
      headers = encoded.headers;
      this.setLastMsgId(encoded.msgId);
    }
    const token = new Token(++this.issued, sequence, hash, prevHash, canonical, kind, ingestSeq, s.index, observedAtMs, record);
    // The fast path checked the key with hasBinary() when it took the message (processFast).
    if (s.fast !== undefined) this.ctx.recent.addBinaryAbsent(s.key);
    else this.ctx.recent.add(s.key);
    this.nextSeq = sequence + 1n;
    this.prevHash = hash;
    this.lastSealedAt = sealedAt;
    this.pipeline.append(this.subjectOf(kind, tenant), canonical, headers.asMsgHdrs(), token);
    if (this.debug) {
      this.ctx.log.debug({ sequence: sequence.toString(), source: token.record.source, eventId: token.record.eventId }, 'append sent');
    }
    return true;
  }

  private onSettled(t: Token, o: AppendOutcome): void {
    // After a failed append nothing later is certain (a later append that
    // succeeded may link to a record that is not there): the next session's
    // tail check decides. Until then, successes are facts, whatever the
    // reason the session is ending.
    if (this.confirmedN !== t.n - 1 || this.fatal) return;
    const { chainId, log, metrics } = this.ctx;
    if (!o.ok) {
      this.appendFailed = true;
      if (o.code === 'FENCED') metrics.fenced.inc({ chain: chainId });
      this.fail(o.code === 'FENCED' ? 'fenced' : 'unavailable', `append of sequence ${t.sequence} failed (${o.code}): ${o.message}`);
      return;
    }
    if (o.duplicate) {
      this.appendFailed = true;
      // The very same record (same hash) is already stored: only a retry
      // could do that. Let the tail decide.
      this.fail('fenced', `record ${t.sequence} is already stored (duplicate Nats-Msg-Id at ${o.seq}); re-reading the tail`);
      return;
    }
    if (o.seq !== Number(t.sequence)) {
      // Impossible with an expected-last-sequence fence; never extend a chain that disagrees.
      this.fatal = new HwlError('INTEGRITY', `chain ${chainId}: record ${t.sequence} was stored at stream sequence ${o.seq}`);
      this.stop('unavailable');
      return;
    }
    this.confirmedN = t.n;
    this.confirmedIngestSeq = t.ingestSeq;
    this.confirmedIndex = t.index;
    this.confirmedHash = t.hash;
    this.confirmedSeq = t.sequence;
    this.sealedCount++;
    // Counters and the head gauge are added up and written once per burst
    // of confirmations (prom-client hashes the labels on every call).
    const kind = t.kind;
    this.unflushed[kind] = (this.unflushed[kind] ?? 0) + 1;
    this.unflushedHead = t.sequence;
    if (!this.metricsScheduled) {
      this.metricsScheduled = true;
      // One clock reading per burst of confirmations (they arrive together).
      this.settledAt = this.ctx.now();
      queueMicrotask(this.flushMetrics);
    }
    this.m.latency.observe(Math.max(0, this.settledAt - t.observedAtMs) / 1000);
    if (this.debug) log.debug({ sequence: t.sequence.toString(), eventId: t.record.eventId }, 'sealed');
    // Hooks may keep what they get: onSealed a copy, not a view into the
    // slab; onSealedLink the token, whose hashes are arrays of their own.
    this.ctx.hooks?.push(this.ctx.hooksReadRecord ? t.detached() : t);
    this.ctx.afterSeal?.(t.sequence);
    this.releaseAcks();
  }

  /**
   * The consumer acks cumulatively (AckPolicy.All): acking message N
   * acknowledges every message up to N, so only the last releasable message
   * of a burst is acked, once, at the end of the turn. Messages are released
   * strictly in order, so an ack never covers a message that is not fully
   * handled.
   */
  private ackLater(m: JsMsg): void {
    const first = this.ackNext === undefined;
    this.ackNext = m;
    if (first) {
      queueMicrotask(() => {
        const a = this.ackNext;
        this.ackNext = undefined;
        a?.ack();
      });
    }
  }

  private enqueueAck(m: JsMsg): void {
    if (this.confirmedN === this.issued && this.ackHead === this.acks.length) {
      this.ackLater(m);
      return;
    }
    this.acks.push({ msg: m, lastToken: this.issued });
  }

  private releaseAcks(): void {
    while (this.ackHead < this.acks.length) {
      const a = this.acks[this.ackHead]!;
      if (a.lastToken > this.confirmedN) break;
      this.ackLater(a.msg);
      this.acks[this.ackHead] = undefined as unknown as PendingAck;
      this.ackHead++;
    }
    if (this.ackHead > 4096 && this.ackHead * 2 > this.acks.length) {
      this.acks.splice(0, this.ackHead);
      this.ackHead = 0;
    }
  }

  private letter(m: JsMsg, body: Uint8Array, index: number | undefined, r: Rejection): DeadLetter {
    return { body, code: r.code, reason: r.reason, origSubject: m.subject, ingestSeq: m.seq, index };
  }

  private async deadLetter(letters: DeadLetter[]): Promise<void> {
    const { js, chainId, log, metrics, nc } = this.ctx;
    let duplicate: boolean[];
    try {
      duplicate = await publishDeadLetters(js, chainId, letters, nc.info?.max_payload ?? 1024 * 1024, this.ingestEpoch);
    } catch (e) {
      this.fail('unavailable', `dead-letter publish failed: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    letters.forEach((d, i) => {
      // Already dead-lettered by an earlier session (same ingest stream and position): counted and logged then.
      if (duplicate[i]) {
        log.debug({ code: d.code, ingestSeq: d.ingestSeq, index: d.index }, 'already dead-lettered');
        return;
      }
      this.rejectedCount++;
      metrics.rejected.inc({ chain: chainId, code: d.code });
      log.warn({ code: d.code, ingestSeq: d.ingestSeq, index: d.index, subject: d.origSubject }, `rejected: ${d.reason}`);
    });
  }

  /**
   * The watermark names a position in the ingest stream that existed when
   * the tail record was sealed. If that stream was deleted and created again
   * since (an operator, or a recovery that re-creates missing streams), its
   * sequences start over: the old watermark would purge the new stream's
   * first messages and mark its events as already handled (lost without a
   * trace). The stream is taken for a new one, and consumed from its start,
   * when its last sequence is below the watermark, or when its message at
   * the watermark is not the one the tail record came from (another event
   * key at the watermark's index). Only where that message is gone (removed
   * by limits or by hand) does the clock decide: a stream created more than
   * a minute after the tail was sealed is new (the two times come from
   * different clocks).
   */
  /** Creation time (ms) of the ingest stream this session consumes: part of every dead letter's id (dead-letter.ts). */
  private ingestEpoch = 0;

  private async checkIngestEpoch(): Promise<void> {
    const w = this.watermark;
    const info = await this.ctx.jsm.streams.info(this.ingestStream);
    const createdMs = Date.parse(info.created);
    this.ingestEpoch = Number.isFinite(createdMs) ? createdMs : 0;
    if (w.ingestSeq === 0) return;
    if (info.state.last_seq >= w.ingestSeq) {
      const same = await this.holdsTailEvent(w);
      if (same === true) return;
      const recreatedAfterTail = Number.isFinite(createdMs) && this.tail.sealedAtMs > 0n && createdMs > Number(this.tail.sealedAtMs) + 60_000;
      if (same === undefined && !recreatedAfterTail) return;
    }
    this.ctx.log.warn(
      { watermark: w, ingestLastSeq: info.state.last_seq, ingestCreated: info.created },
      `ingest stream ${this.ingestStream} was created after the chain's watermark ${w.ingestSeq}/${w.index}: consuming it from its start`,
    );
    this.watermark = { ingestSeq: 0, index: -1 };
    this.confirmedIngestSeq = 0;
    this.confirmedIndex = -1;
    this.expectedNext = undefined;
  }

  /**
   * Whether the ingest stream's message at the watermark holds, at the
   * watermark's index, the event the tail record was sealed from (same
   * event key); undefined when that message cannot be read (gone, or no
   * answer).
   */
  private async holdsTailEvent(w: Watermark): Promise<boolean | undefined> {
    const record = this.tail.record;
    if (!record) return undefined;
    const held = await this.ctx.jsm.streams.getMessage(this.ingestStream, { seq: w.ingestSeq }).catch(() => undefined);
    if (!held) return undefined;
    // Judged as process() judges it (the session's size bound and limits): with
    // the defaults, an event only the configured limits accept would look like
    // another event, and the stream like a new one (tail-event-limits.int.test.ts).
    const a = admitIngestMessage(held.data, { maxBytes: this.ctx.maxIngestBytes, ...(this.ctx.limits ? { limits: this.ctx.limits } : {}) });
    const ev = a.ok ? a.events[w.index] : undefined;
    return ev !== undefined && ev.ok && recordMsgId(ev.event.source, ev.event.eventId) === recordMsgId(record.source, record.eventId);
  }

  private async maxAckPending(): Promise<number> {
    const st = (await this.ctx.jsm.streams.info(this.ingestStream)).state;
    const avg = st.messages > 0 ? st.bytes / st.messages : 1024;
    return Math.max(MIN_ACK_PENDING, Math.min(MAX_ACK_PENDING, Math.floor(this.ctx.ingestBufferBytes / Math.max(avg, 1))));
  }

  /**
   * Removes the fully handled ingest prefix: every message below the tail's
   * watermark message was sealed or dead-lettered. Called before this
   * session's consumer exists.
   */
  private async purgeHandledPrefix(): Promise<void> {
    const below = this.watermark.ingestSeq;
    if (below <= 1) return;
    try {
      await this.ctx.jsm.streams.purge(this.ingestStream, { seq: below });
    } catch (e) {
      this.ctx.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'ingest purge failed');
    }
  }

  /**
   * After run(): the tail this session leaves behind when every append it
   * sent was stored (so the recent-id set is exactly in step with the chain
   * up to it); undefined otherwise.
   */
  get cleanEnd(): { sequence: bigint; hash: Uint8Array } | undefined {
    if (this.appendFailed || this.fatal || this.confirmedN !== this.issued) return undefined;
    return { sequence: this.confirmedSeq, hash: this.confirmedHash };
  }

  /** For diagnostics: where the session stands. */
  get state(): { nextSequence: bigint; confirmedWatermark: Watermark; inFlight: number; chainStream: string } {
    const confirmedWatermark = { ingestSeq: this.confirmedIngestSeq, index: this.confirmedIndex };
    return { nextSequence: this.nextSeq, confirmedWatermark, inFlight: this.pipeline.inFlight, chainStream: this.chainStream };
  }
}
