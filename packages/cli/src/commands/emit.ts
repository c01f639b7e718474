/**
 * `hwledger emit`: publishes events given as JSON lines on stdin (spec: "JSON
 * form of an event") to hwl.ingest.<chain>.<node>, as protobuf IngestBatch
 * messages of up to --batch events, each with a Nats-Msg-Id derived from its
 * events so a re-run within the ingest duplicate window is not stored twice.
 * Every line is parsed and validated before anything is published: a bad line
 * (exit 1, naming the line) publishes nothing.
 */
import type { Command } from 'commander';
import { headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { eventFromJson, isChainError, sha256, toHex, utf8Encode, validateEvent, type ChainEvent } from '@hwledger/chain';
import { closeNats, assertToken, connectNats, ensureChainTopology, HEADERS, recordMsgId, resolveChainId, resolveNatsUrl, subjects } from '@hwledger/core';
import { encodeIngestBatch } from '@hwledger/proto';
import { ExitError } from '../main.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses and validates every non-blank line; throws ExitError(1) naming the first bad line. */
export function parseEventLines(text: string): ChainEvent[] {
  const events: ChainEvent[] = [];
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
    try {
      const event = eventFromJson(json, 'event');
      validateEvent(event);
      events.push(event);
    } catch (e) {
      if (isChainError(e)) throw new ExitError(1, `${where}: ${e.code}: ${e.message}`);
      throw e;
    }
  }
  return events;
}

/** Nats-Msg-Id of an ingest message: one event -> its record id; a batch -> a digest of its ids. */
export function ingestMsgId(batch: readonly ChainEvent[]): string {
  if (batch.length === 1) return recordMsgId(batch[0]!.source, batch[0]!.eventId);
  return `b-${toHex(sha256(utf8Encode(batch.map((e) => recordMsgId(e.source, e.eventId)).join(',')))).slice(0, 48)}`;
}

export function register(program: Command): void {
  program
    .command('emit')
    .description('Publish events (JSON lines on stdin, the spec\'s "JSON form of an event") to the chain\'s ingest subject')
    .option('--nats <url>', 'NATS server URL (env NATS_URL)')
    .option('--chain <id>', 'chain id (env HWL_CHAIN_ID)')
    .option('--node <name>', 'ingest subject token: hwl.ingest.<chain>.<node>', 'cli')
    .option('--batch <n>', 'events per ingest message', '1')
    .action(async (o: { nats?: string; chain?: string; node: string; batch: string }) => {
      const chainId = resolveChainId(o.chain);
      const node = assertToken(o.node, '--node');
      const batch = Number(o.batch);
      if (!Number.isSafeInteger(batch) || batch < 1 || batch > 10_000) throw new ExitError(2, `--batch must be an integer from 1 to 10000, got ${JSON.stringify(o.batch)}`);
      const events = parseEventLines(await readStdin());
      if (events.length === 0) {
        process.stdout.write('accepted 0\n');
        return;
      }
      const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-emit', { maxReconnectAttempts: 10 });
      try {
        await ensureChainTopology(nc, chainId);
        const js = jetstream(nc);
        const subject = subjects.ingest(chainId, node);
        let accepted = 0;
        let duplicates = 0;
        const inflight: Promise<void>[] = [];
        for (let i = 0; i < events.length; i += batch) {
          const chunk = events.slice(i, i + batch);
          const body = encodeIngestBatch(chunk);
          if (body.length > 1024 * 1024) throw new ExitError(1, `events ${i + 1}-${i + chunk.length}: ingest message of ${body.length} bytes exceeds 1 MiB; use a smaller --batch`);
          const h = headers();
          h.set(HEADERS.msgId, ingestMsgId(chunk));
          inflight.push(
            js.publish(subject, body, { headers: h, timeout: 10_000 }).then((ack) => {
              if (ack.duplicate) duplicates += chunk.length;
              else accepted += chunk.length;
            }),
          );
          if (inflight.length >= 64) await Promise.all(inflight.splice(0));
        }
        await Promise.all(inflight);
        process.stdout.write(`accepted ${accepted}\n`);
        if (duplicates > 0) process.stderr.write(`hwledger: ${duplicates} events were already accepted (duplicate ingest message id)\n`);
      } finally {
        await closeNats(nc);
      }
    });
}
