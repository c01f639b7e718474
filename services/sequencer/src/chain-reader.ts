/**
 * Reading a chain stream in order (spec: "Chain stream": the stream sequence
 * of a record's message is the record's sequence). Uses one ordered consumer
 * (flow-controlled push of the whole range, recreated by the client on any
 * gap in delivery) instead of a request per record, so 100k+ records stream
 * at broker speed. Used by the sequencer (warm-up), verify, export and the
 * projector. Nothing read here is trusted: callers recompute hashes.
 */
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { HwlError, streams, subjects } from '@hwledger/core';

export interface ChainEntry {
  /** Stream sequence (= record sequence of an intact chain). */
  sequence: bigint;
  /** Message body: the record's canonical bytes. */
  canonical: Uint8Array;
  /** Message headers (Hwl-Hash, Hwl-Prev-Hash, watermark, Nats-Msg-Id): claims, not facts. */
  headers: MsgHdrs | undefined;
  subject: string;
}

export interface ReadChainOptions {
  /** First sequence to read (default 1). */
  fromSeq?: bigint;
  /** Last sequence to read (default: the head when reading starts). */
  toSeq?: bigint;
  /** Keep following new records after the head (ignores toSeq when true). */
  follow?: boolean;
  /** Fetch headers only (bodies are empty): cheap scans of claims and ids. */
  headersOnly?: boolean;
  /** Stop reading when aborted. */
  signal?: AbortSignal;
}

/** The head (last sequence) and first retained sequence of a chain stream. */
export async function chainStreamState(nc: NatsConnection, chainId: string): Promise<{ first: bigint; last: bigint; messages: number }> {
  const jsm = await jetstreamManager(nc);
  try {
    const info = await jsm.streams.info(streams.chain(chainId));
    return { first: BigInt(info.state.first_seq), last: BigInt(info.state.last_seq), messages: info.state.messages };
  } catch (e) {
    if (e instanceof Error && /not found/i.test(e.message)) {
      throw new HwlError('NOT_FOUND', `chain ${JSON.stringify(chainId)} has no stream ${streams.chain(chainId)} on this NATS server`, { cause: e });
    }
    throw e;
  }
}

/** What a chain stream holds: the bounds of any read of it. */
export interface ChainStreamExtent {
  /** The stream's last sequence: the chain head (a purge does not lower it). */
  head: bigint;
  /** The first sequence still held (head + 1 once everything is purged). */
  first: bigint;
  /** The last sequence still held; 0 when the stream holds nothing. */
  lastHeld: bigint;
  /** How many records the stream holds. */
  messages: number;
}

/**
 * The extent of HWL_CHAIN_<chain>. `lastHeld` is below `head` when the
 * newest records were purged by subject: a read must stop at `lastHeld`,
 * since one that waits for the head would wait for ever.
 */
export async function chainStreamExtent(nc: NatsConnection, chainId: string): Promise<ChainStreamExtent> {
  const { first, last: head, messages } = await chainStreamState(nc, chainId);
  if (messages === 0) return { head, first, lastHeld: 0n, messages };
  // Without holes the last held record is the head: no second request.
  if (BigInt(messages) === head - first + 1n) return { head, first, lastHeld: head, messages };
  const jsm = await jetstreamManager(nc);
  // Every message of the stream matches the stream's subject wildcard: its last one is the last held.
  const m = await jsm.streams.getMessage(streams.chain(chainId), { last_by_subj: subjects.chainAll(chainId) });
  return { head, first, lastHeld: m ? BigInt(m.seq) : 0n, messages };
}

/**
 * Yields the records of a chain stream in stream order. Without `follow`,
 * the read ends at `toSeq` or at the last record the stream still holds,
 * whichever is first: a read that waited for a purged record would wait for
 * ever, so callers compare what they got with the head themselves.
 */
export async function* readChain(nc: NatsConnection, chainId: string, opts: ReadChainOptions = {}): AsyncGenerator<ChainEntry> {
  const from = opts.fromSeq ?? 1n;
  if (from < 1n) throw new HwlError('INVALID_ARGUMENT', 'fromSeq must be at least 1');
  let end: bigint | undefined;
  if (!opts.follow) {
    const extent = await chainStreamExtent(nc, chainId);
    end = opts.toSeq !== undefined && opts.toSeq < extent.lastHeld ? opts.toSeq : extent.lastHeld;
    // Nothing retained in range (also: a fully purged stream, where first > last).
    if (end < from || extent.first > end || extent.messages === 0) return;
  }
  const js = jetstream(nc);
  const consumer = await js.consumers.get(streams.chain(chainId), {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Number(from),
    headers_only: opts.headersOnly ?? false,
  });
  const messages = await consumer.consume({ max_messages: 2048 });
  const onAbort = (): void => void messages.close();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const m of messages) {
      const seq = BigInt(m.seq);
      if (end !== undefined && seq > end) break;
      yield { sequence: seq, canonical: m.data, headers: m.headers, subject: m.subject };
      if (end !== undefined && seq >= end) break;
      // Nothing more in the stream (the rest of the range was purged while reading).
      if (end !== undefined && m.info.pending === 0) break;
      if (opts.signal?.aborted) break;
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await messages.close();
  }
}
