/**
 * `hwledger emit`: publishes events given as JSON lines on stdin (spec: "JSON
 * form of an event") to hwl.ingest.<chain>.<node>, as protobuf IngestBatch
 * messages of up to --batch events, each with a Nats-Msg-Id derived from its
 * events so a re-run within the ingest duplicate window is not stored twice.
 * The sequencer accepts on a node's subject only that node's sources
 * (`<chain>/<node>` and below it: docs/sequencer.md, "Sources"), so each
 * event goes to the subject of its source's node; with --node, every source
 * must be that node's. Every line is parsed and checked before anything is
 * published: a bad line (exit 1, naming the line) publishes nothing.
 */
import type { Command } from 'commander';
import { headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { eventFromJson, isChainError, validateEvent, type ChainEvent } from '@hwledger/chain';
import { closeNats, assertToken, connectNats, ensureChainTopology, HEADERS, resolveChainId, resolveNatsUrl, streams, subjects } from '@hwledger/core';
import { ingestMsgId, MAX_INGEST_BODY_BYTES } from '@hwledger/agent';
import { nodeOfSource } from '@hwledger/sequencer';
import { encodeIngestBatch } from '@hwledger/proto';
import { ExitError } from '../exit-error.js';

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The input as text, strictly: bytes that are not UTF-8 would otherwise
 * become U+FFFD and be published as an event the producer never wrote.
 * Throws ExitError(1) naming the first line that is not UTF-8.
 */
export function decodeInput(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    let start = 0;
    for (let n = 1; ; n++) {
      const nl = bytes.indexOf(0x0a, start);
      const end = nl < 0 ? bytes.length : nl;
      try {
        strict.decode(bytes.subarray(start, end));
      } catch {
        throw new ExitError(1, `line ${n}: INVALID_UTF8: not valid UTF-8`);
      }
      if (nl < 0) throw new ExitError(1, 'INVALID_UTF8: input is not valid UTF-8');
      start = nl + 1;
    }
  }
}

/** The events of the input, each with its 1-based line number and the node whose subject takes it. */
export interface EventLines {
  events: ChainEvent[];
  lines: number[];
  nodes: string[];
}

/**
 * Parses and validates every non-blank line, and finds each event's node
 * (`node` given: every source must be that node's); throws ExitError(1)
 * naming the first bad line.
 */
export function parseEventLines(text: string, chainId: string, node?: string): EventLines {
  const events: ChainEvent[] = [];
  const lineNumbers: number[] = [];
  const nodes: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const where = `line ${i + 1}`;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (e) {
      throw new ExitError(1, `${where}: invalid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    let event: ChainEvent;
    try {
      event = eventFromJson(json, 'event');
      validateEvent(event);
    } catch (e) {
      if (isChainError(e)) throw new ExitError(1, `${where}: ${e.code}: ${e.message}`);
      throw e;
    }
    const owner = nodeOfSource(chainId, event.source);
    if (owner === undefined || (node !== undefined && owner !== node)) {
      const want = node === undefined ? `${chainId}/<node> or ${chainId}/<node>/...` : `${chainId}/${node} or ${chainId}/${node}/...`;
      throw new ExitError(1, `${where}: FOREIGN_SOURCE: source ${JSON.stringify(event.source)} is not ${want}: the sequencer would dead-letter it (docs/sequencer.md, "Sources")`);
    }
    events.push(event);
    lineNumbers.push(i + 1);
    nodes.push(owner);
  }
  return { events, lines: lineNumbers, nodes };
}

/** One ingest message to publish: its node, its events' input lines, body and Nats-Msg-Id. */
interface Chunk {
  node: string;
  /** "line 7" or "lines 7-16". */
  lines: string;
  first: number;
  events: number;
  body: Uint8Array;
  msgId: string;
}

/**
 * Encodes the events into ingest messages of up to `batch` consecutive events
 * of one node (input order is kept: a node change closes the message). Throws
 * ExitError(1) naming the events when a message would not fit the ingest
 * stream (1 MiB, less room for headers: the agent's own bound), before
 * anything is published.
 */
export function encodeChunks({ events, lines, nodes }: EventLines, batch: number): Chunk[] {
  const chunks: Chunk[] = [];
  for (let i = 0; i < events.length; ) {
    const node = nodes[i]!;
    let end = i + 1;
    while (end < events.length && end - i < batch && nodes[end] === node) end++;
    const slice = events.slice(i, end);
    const body = encodeIngestBatch(slice);
    const from = lines[i]!;
    const to = lines[end - 1]!;
    const which = from === to ? `line ${from}` : `lines ${from}-${to}`;
    if (body.length > MAX_INGEST_BODY_BYTES) {
      throw new ExitError(1, `${which}: an ingest message of ${body.length} bytes exceeds ${MAX_INGEST_BODY_BYTES} bytes; use a smaller --batch; nothing was published`);
    }
    chunks.push({ node, lines: which, first: i, events: slice.length, body, msgId: ingestMsgId(slice) });
    i = end;
  }
  return chunks;
}

export function register(program: Command): void {
  program
    .command('emit')
    .description('Publish events (JSON lines on stdin, the spec\'s "JSON form of an event") to the chain\'s ingest subject')
    .option('--nats <url>', 'NATS server URL (env NATS_URL)')
    .option('--chain <id>', 'chain id (env HWL_CHAIN_ID)')
    .option('--node <name>', 'publish every event on hwl.ingest.<chain>.<node>; each source must then be <chain>/<node> or below it (default: the node of each event\'s source)')
    .option('--batch <n>', 'events per ingest message', '1')
    .action(async (o: { nats?: string; chain?: string; node?: string; batch: string }) => {
      const chainId = resolveChainId(o.chain);
      const node = o.node === undefined ? undefined : assertToken(o.node, '--node');
      const batch = Number(o.batch);
      if (!Number.isSafeInteger(batch) || batch < 1 || batch > 10_000) throw new ExitError(2, `--batch must be an integer from 1 to 10000, got ${JSON.stringify(o.batch)}`);
      const input = parseEventLines(decodeInput(await readStdin()), chainId, node);
      const events = input.events;
      if (events.length === 0) {
        process.stdout.write('accepted 0\n');
        return;
      }
      const chunks = encodeChunks(input, batch);
      const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-emit', { maxReconnectAttempts: 10 });
      try {
        await ensureChainTopology(nc, chainId);
        const js = jetstream(nc);
        let accepted = 0;
        let duplicates = 0;
        /** The first chunk (in input order) whose publish failed: its events are not confirmed; later chunks are not sent once it is seen, but those already in flight may still be acknowledged, and are counted. */
        let failed: { chunk: Chunk; error: unknown } | undefined;
        const inflight: Promise<void>[] = [];
        for (const chunk of chunks) {
          if (failed) break;
          const h = headers();
          h.set(HEADERS.msgId, chunk.msgId);
          inflight.push(
            // Nats-Expected-Stream: a stored batch replayed into another stream is refused there (docs/sequencer.md).
            js.publish(subjects.ingest(chainId, chunk.node), chunk.body, { headers: h, expect: { streamName: streams.ingest(chainId) }, timeout: 10_000 }).then(
              (ack) => {
                if (ack.duplicate) duplicates += chunk.events;
                else accepted += chunk.events;
              },
              (error: unknown) => {
                if (!failed || chunk.first < failed.chunk.first) failed = { chunk, error };
              },
            ),
          );
          if (inflight.length >= 64) await Promise.all(inflight.splice(0));
        }
        await Promise.all(inflight);
        // What was stored is reported even when a later publish failed.
        process.stdout.write(`accepted ${accepted}\n`);
        if (duplicates > 0) process.stderr.write(`hwledger: ${duplicates} events were already accepted (duplicate ingest message id)\n`);
        if (failed) {
          const unconfirmed = events.length - accepted - duplicates;
          const why = failed.error instanceof Error ? failed.error.message : String(failed.error);
          throw new ExitError(
            1,
            `publishing the message of ${failed.chunk.lines} failed (${why}); ${unconfirmed} events are not confirmed stored. ` +
              'Running the same input again is safe: stored messages are deduplicated by their Nats-Msg-Id within the ingest stream\'s 10-minute window',
          );
        }
      } finally {
        await closeNats(nc);
      }
    });
}
