/**
 * Pipelined JetStream appends. Waiting for each PubAck before sending the
 * next record would cap sealing at one round trip per record; instead up to
 * `window` appends are in flight, each fenced by its own
 * Nats-Expected-Last-Sequence (L, L+1, L+2, …). Replies come back on one
 * private inbox (no timer or promise per message) and are handed to
 * `onSettled` strictly in append order, so a caller sees "record n stored"
 * only after every record before it was stored.
 *
 * If one append fails, the ones after it fail too in the single-writer case
 * (the stream's last sequence no longer matches); the caller stops, drains
 * and re-reads the chain tail. The bare relay of the seal benchmark uses this
 * same class, so the benchmark compares like with like.
 */
import { createInbox, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';

export type AppendFailureCode =
  /** Nats-Expected-Last-Sequence / -Msg-Id did not match: another writer appended (err_code 10071 / 10070). */
  | 'FENCED'
  /** No PubAck in time: the record may or may not be stored. */
  | 'TIMEOUT'
  /** No stream answered, or the stream refused the message for another reason. */
  | 'UNAVAILABLE';

export type AppendOutcome =
  | { ok: true; seq: number; duplicate: boolean }
  | { ok: false; code: AppendFailureCode; message: string };

interface Pending<T> {
  token: T;
  sentAt: number;
  outcome: AppendOutcome | undefined;
}

export interface AppendPipelineOptions<T> {
  window: number;
  /** PubAck timeout (ms). */
  timeoutMs: number;
  onSettled: (token: T, outcome: AppendOutcome) => void;
}

/** JetStream err_codes of a refused expectation: wrong last sequence, wrong last msg id. */
const FENCE_ERRORS = new Set([10071, 10070]);
const decoder = new TextDecoder();

export class AppendPipeline<T> {
  private readonly inbox = createInbox();
  private readonly sub: Subscription;
  private readonly pending = new Map<number, Pending<T>>();
  private nextId = 1;
  private headId = 1;
  private waiters: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  private readonly timer: ReturnType<typeof setInterval>;
  private closed = false;
  private readonly lowWater: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: AppendPipelineOptions<T>,
  ) {
    this.lowWater = Math.floor(opts.window / 2);
    const prefix = this.inbox.length + 1;
    this.sub = nc.subscribe(`${this.inbox}.*`, {
      callback: (_err, m) => {
        const id = Number(m.subject.slice(prefix));
        const p = this.pending.get(id);
        if (!p || p.outcome) return;
        p.outcome = parseAck(m.data, m.headers);
        this.deliver();
      },
    });
    this.timer = setInterval(() => this.checkTimeouts(), Math.max(50, Math.floor(opts.timeoutMs / 4)));
    this.timer.unref?.();
  }

  get inFlight(): number {
    return this.pending.size;
  }

  hasCapacity(): boolean {
    return this.pending.size < this.opts.window;
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
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** Sends one append; its outcome arrives through onSettled, in order. */
  append(subject: string, body: Uint8Array, headers: MsgHdrs, token: T): void {
    if (this.closed) throw new Error('append pipeline is closed');
    const id = this.nextId++;
    this.pending.set(id, { token, sentAt: performance.now(), outcome: undefined });
    this.nc.publish(subject, body, { reply: `${this.inbox}.${id}`, headers });
  }

  private deliver(): void {
    for (;;) {
      const p = this.pending.get(this.headId);
      if (!p || !p.outcome) break;
      this.pending.delete(this.headId);
      this.headId++;
      this.opts.onSettled(p.token, p.outcome);
    }
    if (this.waiters.length > 0 && this.pending.size <= this.lowWater) {
      const ws = this.waiters;
      this.waiters = [];
      for (const w of ws) w();
    }
    if (this.pending.size === 0 && this.drainWaiters.length > 0) {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w();
    }
  }

  private checkTimeouts(): void {
    const head = this.pending.get(this.headId);
    if (!head || head.outcome) return;
    const now = performance.now();
    if (now - head.sentAt < this.opts.timeoutMs) return;
    // Everything sent before the deadline without an answer is unknown.
    for (const p of this.pending.values()) {
      if (!p.outcome && now - p.sentAt >= this.opts.timeoutMs) {
        p.outcome = { ok: false, code: 'TIMEOUT', message: `no PubAck within ${this.opts.timeoutMs} ms` };
      }
    }
    this.deliver();
  }

  /** Fails whatever is still in flight (outcome unknown) and stops listening. */
  close(): void {
    if (this.closed) return;
    for (const p of this.pending.values()) {
      if (!p.outcome) p.outcome = { ok: false, code: 'UNAVAILABLE', message: 'pipeline closed before the PubAck arrived' };
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
    return { ok: false, code: 'UNAVAILABLE', message: 'unparseable PubAck' };
  }
  if (a.error) {
    const description = typeof a.error.description === 'string' ? a.error.description : 'unknown error';
    return { ok: false, code: FENCE_ERRORS.has(a.error.err_code as number) ? 'FENCED' : 'UNAVAILABLE', message: description };
  }
  if (typeof a.seq !== 'number') return { ok: false, code: 'UNAVAILABLE', message: 'PubAck without a sequence' };
  return { ok: true, seq: a.seq, duplicate: a.duplicate === true };
}
