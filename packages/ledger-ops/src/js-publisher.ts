/**
 * JetStream publishes whose PubAcks come back on one shared inbox
 * subscription. nats.js answers each `js.publish` through a request object
 * that builds two Error objects (an async trace and a "cancelled" rejection,
 * stack captured each time), a timeout error and a deferred; inside the
 * sequencer, where a checkpoint is published every N records, that was a
 * large share of each checkpoint's cost (docs/bench-proofs.md). Here a
 * publish is one `nc.publish` with a reply subject, one timer and one map
 * entry.
 *
 * The reply is server output, but parse it defensively all the same: a
 * malformed PubAck is an error, never a success.
 *
 * A broker restart loses the PubAcks of publishes still waiting (and, as with
 * nats.js's own js.publish, publishes made while the client reconnects):
 * when the connection is back, those waiting are refused at once
 * (UNAVAILABLE, "may have been stored") instead of at their timeout, so a
 * caller that retries under a fence (the checkpointer) goes on within a
 * reconnect rather than a timeout.
 */
import type { Msg, MsgHdrs, NatsConnection, Status, Subscription } from '@nats-io/transport-node';
import { connectionInbox, HwlError } from '@hwledger/core';

/** JetStream's answer to a publish: stored (possibly as a duplicate of an earlier message), or refused with its API error. */
export type PubAckResult = { ok: true; stream: string; seq: number; duplicate: boolean } | { ok: false; errCode: number; description: string };

interface Waiting {
  resolve: (r: PubAckResult) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  subject: string;
}

export class JsPublisher {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly waiting = new Map<string, Waiting>();
  private next = 0;
  private readonly statuses: AsyncIterable<Status> & { stop?: () => void };

  constructor(private readonly nc: NatsConnection) {
    this.prefix = `${connectionInbox(nc)}.`; // the connection's own (per-user) inbox prefix
    this.sub = nc.subscribe(`${this.prefix}*`, { callback: (err, m) => (err ? this.failAll(err) : this.onReply(m)) });
    const statuses: AsyncIterable<Status> & { stop?: () => void } = nc.status();
    this.statuses = statuses;
    void (async () => {
      for await (const st of statuses) {
        if (st.type === 'reconnect') this.failAll(new HwlError('UNAVAILABLE', 'the NATS connection was re-established: no PubAck will come for earlier publishes (they may have been stored)'));
      }
    })().catch(() => undefined);
  }

  /** Publishes and resolves with the PubAck (refusals included); rejects with UNAVAILABLE when no stream answers in time. */
  publish(subject: string, data: Uint8Array, headers: MsgHdrs | undefined, timeoutMs: number): Promise<PubAckResult> {
    const token = (++this.next).toString(36);
    return new Promise<PubAckResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        reject(new HwlError('UNAVAILABLE', `no PubAck for ${subject} within ${timeoutMs} ms (the message may still have been stored)`));
      }, timeoutMs);
      this.waiting.set(token, { resolve, reject, timer, subject });
      try {
        this.nc.publish(subject, data, { reply: this.prefix + token, ...(headers ? { headers } : {}) });
      } catch (e) {
        clearTimeout(timer);
        this.waiting.delete(token);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  /** Stops listening; publishes still waiting are rejected. */
  close(): void {
    this.failAll(new HwlError('UNAVAILABLE', 'publisher closed'));
    this.sub.unsubscribe();
    this.statuses.stop?.();
  }

  private failAll(e: Error): void {
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(e);
    }
    this.waiting.clear();
  }

  private onReply(m: Msg): void {
    const token = m.subject.slice(this.prefix.length);
    const w = this.waiting.get(token);
    if (!w) return; // timed out already
    this.waiting.delete(token);
    clearTimeout(w.timer);
    if (m.headers?.code === 503) {
      w.reject(new HwlError('UNAVAILABLE', `no JetStream stream takes ${w.subject}`));
      return;
    }
    let r: PubAckResult | undefined;
    try {
      r = parsePubAck(m.data);
    } catch {
      r = undefined;
    }
    if (r) w.resolve(r);
    else w.reject(new HwlError('INTERNAL', `malformed PubAck for ${w.subject}`));
  }
}

const utf8 = new TextDecoder();

/** Parses a PubAck or JetStream API error reply; undefined when it is neither. */
export function parsePubAck(data: Uint8Array): PubAckResult | undefined {
  const v: unknown = JSON.parse(utf8.decode(data));
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o['error'] === 'object' && o['error'] !== null) {
    const err = o['error'] as Record<string, unknown>;
    const errCode = typeof err['err_code'] === 'number' ? err['err_code'] : typeof err['code'] === 'number' ? err['code'] : 0;
    return { ok: false, errCode, description: typeof err['description'] === 'string' ? err['description'] : 'JetStream error' };
  }
  if (typeof o['stream'] !== 'string' || typeof o['seq'] !== 'number' || !Number.isSafeInteger(o['seq']) || o['seq'] < 1) return undefined;
  return { ok: true, stream: o['stream'], seq: o['seq'], duplicate: o['duplicate'] === true };
}
