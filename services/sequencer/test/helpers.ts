/** Shared helpers of the sequencer tests: event generation, publishing, chain and DLQ inspection. */
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerInfo } from '@nats-io/jetstream';
import { ChainVerifier, COMPLETION_REASONS, decodeRecord, genesisAnchor, hashFromHex, type ChainEvent, type VerifyResult } from '@hwledger/chain';
import { HEADERS, streams, subjects } from '@hwledger/core';
import { encodeIngestBatch } from '@hwledger/proto';
import { INGEST_CONSUMER, readChain } from '@hwledger/sequencer';

const TENANTS = ['acme', 'globex', 'initech', 'umbrella'];

/** A deterministic, valid event; `i` picks the kind so every variant appears. */
export function makeEvent(i: number, source = 'test/node-1', observedAtMs = BigInt(Date.now())): ChainEvent {
  const eventId = `ev-${i}`;
  const tenant = TENANTS[i % TENANTS.length]!;
  switch (i % 6) {
    case 0:
      return { kind: 'device_registered', source, eventId, observedAtMs, tenant: '', instanceId: `gpu-${i % 8}`, data: { device_id: `gpu-${i % 8}`, hostname: 'node-1', device_type: 'H100', vram_total_mib: 81920n } };
    case 1:
      return { kind: 'job_dispatched', source, eventId, observedAtMs, tenant, instanceId: `job-${i}`, data: { job_id: `job-${i}`, device_id: 'gpu-1', model_id: 'llama-70b', vram_requested_mib: 40000n, predicted_cost_micro_usd: 1234n } };
    case 2:
      return { kind: 'job_completed', source, eventId, observedAtMs, tenant, instanceId: `job-${i}`, data: { job_id: `job-${i}`, tokens_generated: 512, duration_ms: 1500n, actual_vram_mib: 39000n, cost_micro_usd: 1300n } };
    case 3:
      return { kind: 'metrics_collected', source, eventId, observedAtMs, tenant: '', instanceId: 'gpu-2', data: { device_id: 'gpu-2', vram_used_mib: 1000n, vram_total_mib: 81920n, utilization_pct: 55, temperature_mc: 61500, power_mw: 350000 } };
    case 4:
      return { kind: 'job_failed', source, eventId, observedAtMs, tenant, instanceId: `job-${i}`, data: { job_id: `job-${i}`, error_message: 'CUDA out of memory' } };
    default:
      return {
        kind: 'inference_request_completed',
        source,
        eventId,
        observedAtMs,
        tenant,
        instanceId: `inference:request_completed:req-${i}`,
        data: { tenant_id: tenant, request_id: `req-${i}`, total_tokens: 100 + (i % 900), compute_ms: BigInt(10 + (i % 90)), reason: COMPLETION_REASONS[i % COMPLETION_REASONS.length]! },
      };
  }
}

export function makeEvents(from: number, count: number, source: string): ChainEvent[] {
  return Array.from({ length: count }, (_, k) => makeEvent(from + k, source));
}

/**
 * A source that `node` owns on chain `chainId`: `<chain>/<node>`, or
 * `<chain>/<node>/<below>`. The sequencer seals an event from
 * `hwl.ingest.<chain>.<node>` only when its source is one of these
 * (source-owner.ts); any other is dead-lettered as FOREIGN_SOURCE.
 */
export function nodeSource(chainId: string, node = 'node-1', below?: string): string {
  return below === undefined ? `${chainId}/${node}` : `${chainId}/${node}/${below}`;
}

/** Whether `node` owns `source` on chain `chainId` (the rule of source-owner.ts, restated here for the tests' own inputs). */
export function ownedBy(chainId: string, node: string, source: string): boolean {
  const own = nodeSource(chainId, node);
  return source === own || (source.startsWith(`${own}/`) && source.length > own.length + 1);
}

/**
 * Publishes events as ingest messages of `batch` events each (Nats-Msg-Id per
 * message, like an agent), pipelined; resolves when every message is stored.
 * Throws, publishing nothing, when an event's source is not `node`'s (the
 * sequencer would dead-letter it as FOREIGN_SOURCE, and a test waiting for it
 * to be sealed would only time out): publish such events with publishRaw.
 */
export async function publishEvents(nc: NatsConnection, chainId: string, events: readonly ChainEvent[], batch = 100, node = 'node-1', msgIdPrefix = 'm'): Promise<number> {
  const foreign = events.find((e) => !ownedBy(chainId, node, e.source));
  if (foreign !== undefined) {
    throw new Error(`publishEvents: event ${foreign.eventId} has source ${JSON.stringify(foreign.source)}, which node ${node} does not own (want ${nodeSource(chainId, node)} or ${nodeSource(chainId, node)}/…); use nodeSource()`);
  }
  const js = jetstream(nc);
  const pending: Promise<unknown>[] = [];
  let messages = 0;
  for (let i = 0; i < events.length; i += batch) {
    const chunk = events.slice(i, i + batch);
    const h = headers();
    h.set(HEADERS.msgId, `${msgIdPrefix}-${chunk[0]!.source}-${chunk[0]!.eventId}-${chunk.length}`);
    pending.push(js.publish(subjects.ingest(chainId, node), encodeIngestBatch(chunk), { headers: h, timeout: 30_000 }));
    messages++;
    if (pending.length >= 256) {
      await Promise.all(pending);
      pending.length = 0;
    }
  }
  await Promise.all(pending);
  return messages;
}

export async function publishRaw(nc: NatsConnection, chainId: string, body: Uint8Array, node = 'node-1'): Promise<void> {
  await jetstream(nc).publish(subjects.ingest(chainId, node), body, { timeout: 30_000 });
}

export async function chainHead(nc: NatsConnection, chainId: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(streams.chain(chainId))).state.last_seq;
}

export interface ChainCheck {
  result: VerifyResult;
  /** `${source}\n${eventId}` of every record, in order. */
  ids: string[];
  /** Records whose Hwl-Hash/Hwl-Prev-Hash header claims were compared. */
  count: number;
}

/** Reads the whole chain, verifying from genesis with the header claims. */
export async function checkChain(nc: NatsConnection, chainId: string): Promise<ChainCheck> {
  const v = new ChainVerifier(genesisAnchor(chainId));
  const ids: string[] = [];
  let count = 0;
  for await (const e of readChain(nc, chainId)) {
    count++;
    const hash = e.headers?.get(HEADERS.hash);
    const prev = e.headers?.get(HEADERS.prevHash);
    const failure = v.push({ canonical: e.canonical, sequence: e.sequence, hash: hash ? hashFromHex(hash) : undefined, prevHash: prev ? hashFromHex(prev) : undefined });
    if (failure) break;
    const r = decodeRecord(e.canonical);
    ids.push(`${r.source}\n${r.eventId}`);
  }
  return { result: v.result(), ids, count };
}

/** Counts dead letters per Hwl-Reject-Code. */
export async function dlqCounts(nc: NatsConnection, chainId: string): Promise<Record<string, number>> {
  const jsm = await jetstreamManager(nc);
  const total = (await jsm.streams.info(streams.dlq(chainId))).state.messages;
  const counts: Record<string, number> = {};
  if (total === 0) return counts;
  const c = await jetstream(nc).consumers.get(streams.dlq(chainId), { deliver_policy: DeliverPolicy.All, headers_only: true });
  const it = await c.consume();
  let n = 0;
  for await (const m of it) {
    const code = m.headers?.get(HEADERS.rejectCode) ?? '(none)';
    counts[code] = (counts[code] ?? 0) + 1;
    if (++n >= total) break;
  }
  await it.close();
  return counts;
}

/** One dead letter as stored on HWL_DLQ_<chain>. */
export interface StoredDeadLetter {
  code: string;
  reason: string;
  origSubject: string;
  /** Hwl-Ingest-Index: the event's index in its ingest message ('' for a message-level rejection). */
  index: string;
  data: Uint8Array;
}

/** Reads every dead letter of the chain, in stream order. */
export async function readDeadLetters(nc: NatsConnection, chainId: string): Promise<StoredDeadLetter[]> {
  const jsm = await jetstreamManager(nc);
  const total = (await jsm.streams.info(streams.dlq(chainId))).state.messages;
  const out: StoredDeadLetter[] = [];
  if (total === 0) return out;
  const c = await jetstream(nc).consumers.get(streams.dlq(chainId), { deliver_policy: DeliverPolicy.All });
  const it = await c.consume();
  for await (const m of it) {
    const h = m.headers;
    out.push({ code: h?.get(HEADERS.rejectCode) ?? '', reason: h?.get(HEADERS.rejectReason) ?? '', origSubject: h?.get(HEADERS.origSubject) ?? '', index: h?.get(HEADERS.ingestIndex) ?? '', data: m.data });
    if (out.length >= total) break;
  }
  await it.close();
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Asserts that `ids` holds each expected id exactly once and nothing else. */
export function exactlyOnce(ids: readonly string[], expected: readonly ChainEvent[]): { missing: string[]; doubled: string[]; unexpected: string[] } {
  const want = new Set(expected.map((e) => `${e.source}\n${e.eventId}`));
  const seen = new Map<string, number>();
  for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
  const missing = [...want].filter((id) => !seen.has(id));
  const doubled = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  const unexpected = [...seen.keys()].filter((id) => !want.has(id));
  return { missing, doubled, unexpected };
}

/** The sequencer's current ingest consumer (named `hwl-sequencer-<nuid>`). */
export async function ingestConsumer(nc: NatsConnection, chainId: string): Promise<ConsumerInfo> {
  const jsm = await jetstreamManager(nc);
  const found: ConsumerInfo[] = [];
  for await (const ci of jsm.consumers.list(streams.ingest(chainId))) if (ci.name.startsWith(INGEST_CONSUMER)) found.push(ci);
  if (found.length !== 1) throw new Error(`expected one sequencer consumer on ${streams.ingest(chainId)}, found ${found.length}`);
  return found[0]!;
}
