/**
 * Pipelined JetStream appends. Waiting for each PubAck before sending the
 * next record would cap sealing at one round trip per record; instead up to
 * `window` appends are in flight, each fenced by its own
 * Nats-Expected-Last-Sequence (L, L+1, L+2, …). Outcomes are handed to
 * `onSettled` strictly in append order, so a caller sees "record n stored"
 * only after every record before it was stored.
 *
 * Sparse PubAcks: only every `ackEvery`-th append, and the last append of
 * each turn, asks for a PubAck (has a reply subject); the others are sent
 * without one, and the server answers nothing for them. A PubAck for append
 * r confirms every append before it, because each append is fenced on the
 * one before: append k is stored only at stream sequence k (expected last
 * sequence k-1), so r stored at its sequence means r-1 was the stream's last
 * message, and so on back to the first append of the pipeline (the sequencer
 * also links each append to its own previous record by
 * Nats-Expected-Last-Msg-Id, docs/sequencer.md "Fencing"). So append k's
 * confirmed stream sequence is seq(r) - (r - k). If append r fails, or
 * times out, every unconfirmed append before it is reported failed too (its
 * fate is unknown: the caller re-reads the chain tail), never stored.
 *
 * If one append fails, the ones after it fail too in the single-writer case
 * (the stream's last sequence no longer matches); the caller stops, drains
 * and re-reads the chain tail. The bare relay of the seal benchmark uses this
 * same class, so the benchmark compares like with like.
 */
import type { MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { connectionInbox } from '@hwledger/core';
import { FrameWriter } from './frame-writer.js';

export type AppendFailureCode =
  /** Nats-Expected-Last-Sequence / -Msg-Id did not match: another writer appended (err_code 10071 / 10070). */
  | 'FENCED'
  /** No PubAck in time: the record may or may not be stored. */
  | 'TIMEOUT'
  /** No stream answered, or the stream refused the message for another reason. */
  | 'UNAVAILABLE';

export type AppendOutcome =
  | { ok: true; seq: number; duplicate: boolean }
  /** `unrecognized`: the reply was not a PubAck, a JetStream error or a status (not known to come from the server). */
  | { ok: false; code: AppendFailureCode; message: string; unrecognized?: true };

/** An append that asked for a PubAck. */
interface Confirming {
  id: number;
  sentAt: number;
  outcome: AppendOutcome | undefined;
  /** Its FrameWriter frame number (0 when sent through publish()). */
  frame: number;
}

export interface AppendPipelineOptions<T> {
  window: number;
  /** PubAck timeout (ms). */
  timeoutMs: number;
  /** Ask for a PubAck on every n-th append (and on the last of each turn); default 32. 1 = every append. */
  ackEvery?: number;
  onSettled: (token: T, outcome: AppendOutcome) => void;
  /**
   * Write appends as raw HPUB frames (frame-writer.ts) instead of through
   * nats.js's publish(); default true. Falls back to publish() when the
   * client offers no protocol queue.
   */
  rawFrames?: boolean;
  /** Size of the frame writer's chunks (default 256 KiB); small ones let tests recycle chunks often. */
  frameChunkBytes?: number;
}

/** JetStream err_codes of a refused expectation: wrong last sequence, wrong last msg id. */
const FENCE_ERRORS = new Set([10071, 10070]);
const decoder = new TextDecoder();

export class AppendPipeline<T> {
  /** On the connection's own inbox prefix (per-user under the generated permissions: @hwledger/core nats-inbox.ts). */
  private readonly inbox: string;
  private readonly sub: Subscription;
  /** Tokens of appends not yet settled, in append order; tokens[tHead] has id headId. */
  private tokens: (T | undefined)[] = [];
  private tHead = 0;
  private headId = 1;
  private nextId = 1;
  /** Appends that asked for a PubAck, in order (cHead first). */
  private confirming: Confirming[] = [];
  private cHead = 0;
  private readonly byId = new Map<number, Confirming>();
  /** The latest append, held until the end of the turn (or the next append): see send(). */
  private held: { subject: string; body: Uint8Array; headers: MsgHdrs } | undefined;
  private waiters: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  private readonly timer: ReturnType<typeof setInterval>;
  private closed = false;
  /** Why close() was called, where it was given a reason (the PubAck subscription refused). */
  private closeReason: string | undefined;
  private readonly lowWater: number;
  private readonly ackEvery: number;
  private readonly frames: FrameWriter | undefined;
  /** PubAcks asked for so far (diagnostics and tests). */
  pubAcksRequested = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: AppendPipelineOptions<T>,
  ) {
    this.lowWater = Math.floor(opts.window / 2);
    this.ackEvery = Math.max(1, Math.floor(opts.ackEvery ?? 32));
    this.frames = opts.rawFrames === false ? undefined : FrameWriter.for(nc, opts.frameChunkBytes);
    this.inbox = connectionInbox(nc);
    const prefix = this.inbox.length + 1;
    this.sub = nc.subscribe(`${this.inbox}.*`, {
      callback: (err, m) => {
        if (err) {
          // The server refused the subscription (permissions: this user may
          // not subscribe below its inbox prefix): no PubAck can come, so
          // fail what is in flight now, saying why, rather than time out.
          this.close(`the PubAck subscription on ${this.inbox}.* was refused: ${err.message}`);
          return;
        }
        const id = Number(m.subject.slice(prefix));
        const c = this.byId.get(id);
        if (!c || c.outcome) return;
        const o = parseAck(m.data, m.headers);
        c.outcome = o;
        // An answer from the server (a PubAck, a JetStream error or a status),
        // whatever it says, proves it received this frame and every byte
        // before it: their chunks may be reused. Anything else on this inbox
        // (which no other user may publish to; a push consumer could still
        // aim at it, nats-server#8274, given its random name) frees nothing.
        if (c.frame > 0 && !(!o.ok && o.unrecognized)) this.frames?.delivered(c.frame);
        this.deliver();
      },
    });
    this.timer = setInterval(() => this.checkTimeouts(), Math.max(50, Math.floor(opts.timeoutMs / 4)));
    this.timer.unref?.();
  }

  /** Appends sent (or about to be) and not settled yet. */
  get inFlight(): number {
    return this.nextId - this.headId;
  }

  hasCapacity(): boolean {
    return this.inFlight < this.opts.window;
  }

  /**
   * Resolves when the window has drained to half (not at the first free
   * slot: resuming one append at a time would cost one socket write per
   * record; resuming at half sends the next appends as one write).
   */
  waitForCapacity(): Promise<void> {
    if (this.hasCapacity() || this.closed) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  /** Resolves when nothing is in flight. */
  drained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** Sends one append; its outcome arrives through onSettled, in order. */
  append(subject: string, body: Uint8Array, headers: MsgHdrs, token: T): void {
    if (this.closed) throw new Error(`append pipeline is closed${this.closeReason ? `: ${this.closeReason}` : ''}`);
    this.nextId++;
    this.tokens.push(token);
    // The previous append goes out now, with a PubAck request only if it is
    // an ackEvery-th one; this one waits for the next append or the end of
    // the turn, whichever comes first (it then asks for a PubAck, so the
    // last append of a burst is always confirmed without delay).
    const prev = this.held;
    this.held = { subject, body, headers };
    if (prev) this.send(prev, this.nextId - 2, (this.nextId - 2) % this.ackEvery === 0);
    else queueMicrotask(() => this.flushHeld());
  }

  private flushHeld(): void {
    const h = this.held;
    if (!h || this.closed) return;
    this.held = undefined;
    try {
      this.send(h, this.nextId - 1, true);
    } catch {
      // Refused before a byte was written (over max_payload, connection
      // closed or draining). In this microtask nobody could catch it: settle
      // everything in flight as failed instead, as close() does.
      this.close();
    }
  }

  private send(a: { subject: string; body: Uint8Array; headers: MsgHdrs }, id: number, confirm: boolean): void {
    let reply: string | undefined;
    let c: Confirming | undefined;
    if (confirm) {
      c = { id, sentAt: performance.now(), outcome: undefined, frame: 0 };
      this.confirming.push(c);
      this.byId.set(id, c);
      this.pubAcksRequested++;
      reply = `${this.inbox}.${id}`;
    }
    if (this.frames) {
      const frame = this.frames.write(a.subject, reply, (a.headers as unknown as { encode(): Uint8Array }).encode(), a.body);
      if (c) c.frame = frame;
    } else this.nc.publish(a.subject, a.body, reply === undefined ? { headers: a.headers } : { reply, headers: a.headers });
  }

  private deliver(): void {
    while (this.cHead < this.confirming.length) {
      const c = this.confirming[this.cHead]!;
      const o = c.outcome;
      if (!o) break;
      this.confirming[this.cHead] = undefined as unknown as Confirming;
      this.cHead++;
      this.byId.delete(c.id);
      // Everything up to c.id is settled by c's outcome.
      while (this.headId <= c.id) {
        const id = this.headId;
        const token = this.tokens[this.tHead] as T;
        this.tokens[this.tHead] = undefined;
        this.tHead++;
        this.headId++;
        if (id === c.id) this.opts.onSettled(token, o);
        else if (o.ok) this.opts.onSettled(token, { ok: true, seq: o.seq - (c.id - id), duplicate: false });
        else this.opts.onSettled(token, { ok: false, code: o.code, message: `not confirmed: a later append failed (${o.message})` });
      }
    }
    if (this.cHead === this.confirming.length) {
      this.confirming = [];
      this.cHead = 0;
    }
    if (this.tHead === this.tokens.length) {
      this.tokens = [];
      this.tHead = 0;
    } else if (this.tHead > 4096 && this.tHead * 2 > this.tokens.length) {
      this.tokens = this.tokens.slice(this.tHead);
      this.tHead = 0;
    }
    if (this.waiters.length > 0 && this.inFlight <= this.lowWater) {
      const ws = this.waiters;
      this.waiters = [];
      for (const w of ws) w();
    }
    if (this.inFlight === 0 && this.drainWaiters.length > 0) {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w();
    }
  }

  private checkTimeouts(): void {
    const head = this.confirming[this.cHead];
    if (!head || head.outcome) return;
    const now = performance.now();
    if (now - head.sentAt < this.opts.timeoutMs) return;
    // Everything sent before the deadline without an answer is unknown.
    for (let i = this.cHead; i < this.confirming.length; i++) {
      const c = this.confirming[i]!;
      if (!c.outcome && now - c.sentAt >= this.opts.timeoutMs) {
        c.outcome = { ok: false, code: 'TIMEOUT', message: `no PubAck within ${this.opts.timeoutMs} ms` };
      }
    }
    this.deliver();
  }

  /** Fails whatever is still in flight (outcome unknown) and stops listening; `reason` goes into the failures' message. */
  close(reason?: string): void {
    if (this.closed) return;
    this.closeReason = reason;
    this.held = undefined; // never sent: certainly not stored
    const last = this.nextId - 1;
    if (this.headId <= last) {
      // One synthetic confirmation settles everything left as failed.
      for (let i = this.cHead; i < this.confirming.length; i++) {
        const c = this.confirming[i]!;
        c.outcome ??= { ok: false, code: 'UNAVAILABLE', message: reason ?? 'pipeline closed before the PubAck arrived' };
      }
      const tailC = this.confirming[this.confirming.length - 1];
      if (!tailC || tailC.id < last) {
        this.confirming.push({ id: last, sentAt: 0, frame: 0, outcome: { ok: false, code: 'UNAVAILABLE', message: reason ?? 'pipeline closed before the append was confirmed' } });
      }
    }
    this.deliver();
    this.closed = true;
    clearInterval(this.timer);
    this.sub.unsubscribe();
    for (const w of this.waiters) w();
    this.waiters = [];
  }
}

const SEQ_RE = /"seq":\s*(\d+)/;

function parseAck(data: Uint8Array, headers: MsgHdrs | undefined): AppendOutcome {
  if (headers?.hasError || (data.length === 0 && headers?.code)) {
    return { ok: false, code: 'UNAVAILABLE', message: `no stream answered (${headers?.code ?? '?'} ${headers?.description ?? ''})`.trim() };
  }
  const text = decoder.decode(data);
  // Fast path for the common answer {"stream":"…","seq":N[,"duplicate":true]}.
  if (!text.includes('"error"')) {
    const m = SEQ_RE.exec(text);
    if (m) return { ok: true, seq: Number(m[1]), duplicate: /"duplicate":\s*true/.test(text) };
  }
  let a: { seq?: unknown; duplicate?: unknown; error?: { err_code?: unknown; description?: unknown } };
  try {
    a = JSON.parse(text) as typeof a;
  } catch {
    return { ok: false, code: 'UNAVAILABLE', message: 'unparseable PubAck', unrecognized: true };
  }
  if (a.error) {
    const description = typeof a.error.description === 'string' ? a.error.description : 'unknown error';
    return { ok: false, code: FENCE_ERRORS.has(a.error.err_code as number) ? 'FENCED' : 'UNAVAILABLE', message: description };
  }
  if (typeof a.seq !== 'number') return { ok: false, code: 'UNAVAILABLE', message: 'PubAck without a sequence', unrecognized: true };
  return { ok: true, seq: a.seq, duplicate: a.duplicate === true };
}
