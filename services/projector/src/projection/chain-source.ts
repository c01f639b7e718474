/**
 * Follows a chain stream from a sequence with one ordered consumer (spec:
 * "Chain stream": stream sequence == record sequence). An ordered consumer is
 * a flow-controlled, client-managed ephemeral consumer that the client
 * recreates on any delivery gap, so 100k+ records stream at broker speed
 * without a request per record. Nothing read here is trusted: bodies are
 * verified by the caller; headers are claims.
 */
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { streams } from '@hwledger/core';

export interface SourceEntry {
  /** Stream sequence (must equal the record's sequence). */
  sequence: bigint;
  canonical: Uint8Array;
  headers: MsgHdrs | undefined;
  subject: string;
  /** Messages the stream holds after this one when it was delivered. */
  pending: number;
}

const TIMEOUT = Symbol('timeout');

export class ChainSource {
  private messages: ConsumerMessages | undefined;
  private iter: AsyncIterator<JsMsg> | undefined;
  private pendingNext: Promise<IteratorResult<JsMsg>> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly chainId: string,
  ) {}

  /** Opens the consumer at `fromSeq`. Throws (NOT_FOUND-like) if the stream does not exist. */
  async open(fromSeq: bigint, maxMessages = 4096): Promise<void> {
    await this.close();
    const js = jetstream(this.nc);
    const consumer = await js.consumers.get(streams.chain(this.chainId), {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Number(fromSeq),
    });
    this.messages = await consumer.consume({ max_messages: maxMessages });
    this.iter = this.messages[Symbol.asyncIterator]();
  }

  /**
   * The next entry, or 'timeout' if none arrives within `timeoutMs`, or
   * 'closed'. A pending read survives a timeout (no message is lost).
   */
  async next(timeoutMs: number): Promise<SourceEntry | 'timeout' | 'closed'> {
    if (!this.iter) return 'closed';
    this.pendingNext ??= this.iter.next();
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      this.pendingNext,
      new Promise<typeof TIMEOUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMEOUT), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (r === TIMEOUT) return 'timeout';
    this.pendingNext = undefined;
    if (r.done) return 'closed';
    const m = r.value;
    return {
      sequence: BigInt(m.seq),
      canonical: m.data,
      headers: m.headers,
      subject: m.subject,
      pending: m.info.pending,
    };
  }

  async close(): Promise<void> {
    const m = this.messages;
    const iter = this.iter;
    const pending = this.pendingNext;
    this.messages = undefined;
    this.iter = undefined;
    this.pendingNext = undefined;
    if (!m || !iter) return;
    // nats.js runs the stop as an entry of the message queue: close() settles
    // only once someone iterates up to it, so drain what is buffered.
    const closed = m.close().catch(() => undefined);
    const drain = (async () => {
      if (pending) await pending.catch(() => undefined);
      for (;;) {
        const r = await iter.next().catch(() => ({ done: true as const, value: undefined }));
        if (r.done) return;
      }
    })();
    await Promise.race([Promise.all([closed, drain]), new Promise((r) => setTimeout(r, 2_000).unref())]);
  }
}
