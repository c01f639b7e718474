/** Shared helpers of the agent tests: fixtures and reading the ingest stream back. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { ChainEvent } from '@hwledger/chain';
import { streams } from '@hwledger/core';
import { decodeIngestBatch } from '@hwledger/proto';

export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
export const readFixture = (name: string): string => readFileSync(fixture(name), 'utf8');

export interface IngestMessage {
  seq: number;
  subject: string;
  msgId: string | undefined;
  /** Body size in bytes. */
  bytes: number;
  events: ChainEvent[];
}

/** Every message of the chain's ingest stream, decoded (decodeIngestBatch), in stream order. */
export async function readIngest(nc: NatsConnection, chainId: string): Promise<IngestMessage[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(streams.ingest(chainId));
  const total = info.state.messages;
  const out: IngestMessage[] = [];
  if (total === 0) return out;
  const js = jetstream(nc);
  const name = `agent-test-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  await jsm.consumers.add(streams.ingest(chainId), { name, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, inactive_threshold: 60_000_000_000 });
  const consumer = await js.consumers.get(streams.ingest(chainId), name);
  while (out.length < total) {
    const batch = await consumer.fetch({ max_messages: Math.min(1000, total - out.length), expires: 5_000 });
    let got = 0;
    for await (const m of batch) {
      got++;
      const decoded = decodeIngestBatch(m.data);
      out.push({
        seq: m.seq,
        subject: m.subject,
        msgId: m.headers?.get('Nats-Msg-Id'),
        bytes: m.data.length,
        events: decoded.events.map((r) => {
          if (!r.ok) throw new Error(`undecodable event in ingest message ${m.seq}: ${r.message}`);
          return r.event;
        }),
      });
    }
    if (got === 0) break;
  }
  await jsm.consumers.delete(streams.ingest(chainId), name).catch(() => undefined);
  return out;
}

/** All events of the ingest stream in order. */
export async function ingestEvents(nc: NatsConnection, chainId: string): Promise<ChainEvent[]> {
  return (await readIngest(nc, chainId)).flatMap((m) => m.events);
}

/** Asserts-friendly summary: ids occurring more than once. */
export function duplicates(ids: readonly string[]): string[] {
  const seen = new Set<string>();
  const dup: string[] = [];
  for (const id of ids) {
    if (seen.has(id)) dup.push(id);
    seen.add(id);
  }
  return dup;
}

export const key = (e: { source: string; eventId: string }): string => `${e.source}\n${e.eventId}`;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
