/**
 * Hostile input: 1,000 malformed messages published raw to the ingest
 * subjects, interleaved with valid traffic. None is sealed, every one lands
 * on HWL_DLQ_<chain> with its reject code, reason and original bytes, the
 * rejections are counted in hwl_events_rejected_total, and the sequencer
 * keeps sealing the valid events around them.
 *
 * Also: an event may only speak for the node whose ingest subject carried it
 * (source-owner.ts). A node that publishes events of another node's source is
 * dead-lettered (FOREIGN_SOURCE), so it cannot take that node's event ids and
 * have the real events dropped as duplicates.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { HEADERS, streams, subjects } from '@hwledger/core';
import { encodeIngestBatch, eventToProto, pb, decodeIngestBatch } from '@hwledger/proto';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { Sequencer } from '@hwledger/sequencer';
import type { ChainEvent } from '@hwledger/chain';
import { chainHead, checkChain, dlqCounts, exactlyOnce, makeEvent, makeEvents, nodeSource, publishEvents, publishRaw, readDeadLetters, sleep } from './helpers.js';

const CHAIN = 'hostile';

function withVersion(events: pb.IngestEvent[], version = 1): Uint8Array {
  return pb.IngestBatch.encode({ version, events }).finish();
}

/** A valid event of `source` made invalid by one field (each fails validateEvent with INVALID_FIELD). */
function invalidFieldEvent(i: number, source: string): ChainEvent {
  const e = makeEvent(1_000_000 + i, source);
  switch (i % 6) {
    case 0:
      return { ...e, source: '' };
    case 1:
      return { ...e, tenant: 'no spaces allowed' };
    case 2:
      return { ...e, observedAtMs: 0n };
    case 3:
      return { ...e, eventId: 'x'.repeat(300) };
    case 4:
      return {
        kind: 'metrics_collected',
        source,
        eventId: `bad-util-${i}`,
        observedAtMs: 1n,
        tenant: '',
        instanceId: 'gpu-0',
        data: { device_id: 'gpu-0', vram_used_mib: 1n, vram_total_mib: 80n, utilization_pct: 150, temperature_mc: 1, power_mw: 1 },
      };
    default:
      return {
        kind: 'inference_request_completed',
        source,
        eventId: `bad-tenant-${i}`,
        observedAtMs: 1n,
        tenant: 'acme',
        instanceId: `inference:request_completed:r${i}`,
        data: { tenant_id: 'globex', request_id: `r${i}`, total_tokens: 1, compute_ms: 1n, reason: 'cancelled' },
      };
  }
}

/** Protobuf bytes of a one-event batch (of `source`) whose first string field holds invalid UTF-8. */
function badUtf8Batch(i: number, source: string): Uint8Array {
  const good = encodeIngestBatch([makeEvent(2_000_000 + i, source)]);
  const s = Buffer.from(good);
  const at = s.indexOf(Buffer.from(source));
  s[at + 1] = 0xc3; // lead byte of a 2-byte sequence...
  s[at + 2] = 0x28; // ...followed by a non-continuation byte
  return new Uint8Array(s);
}

describe('hostile ingest', () => {
  const nats = useNatsServer();
  let seq: Sequencer;
  const registry = new Registry();

  beforeAll(async () => {
    seq = new Sequencer({ nc: nats.nc, chainId: CHAIN, registry, takeoverGraceMs: 0, maxIngestBytes: 64 * 1024 });
    await seq.start();
  });

  afterAll(async () => {
    await seq?.stop();
  });

  it('dead-letters 1,000 malformed messages with reasons and keeps sealing valid events', async () => {
    const valid = makeEvents(0, 5_000, nodeSource(CHAIN, 'node-1'));
    // Duplicates: the same (source, event_id) as valid events, as new ingest messages.
    const dupOf = valid.slice(0, 100);

    const malformed: { code: string; body: Uint8Array; node: string }[] = [];
    /** A hostile message from evil-0, evil-1 or evil-2 in turn; events in it are of that node's own source, so each message is wrong in one way only. */
    const evil = (code: string, body: (source: string) => Uint8Array): void => {
      const node = `evil-${malformed.length % 3}`;
      malformed.push({ code, node, body: body(nodeSource(CHAIN, node)) });
    };
    for (let i = 0; i < 190; i++) evil('MALFORMED_PROTOBUF', () => new Uint8Array([0x0f, ...randomBytes(i * 7)]));
    for (let i = 0; i < 150; i++) {
      evil('MALFORMED_PROTOBUF', (source) => {
        const b = encodeIngestBatch([makeEvent(3_000_000 + i, source)]);
        return b.subarray(0, 3 + (i % (b.length - 4)));
      });
    }
    for (let i = 0; i < 200; i++) evil('INVALID_FIELD', (source) => encodeIngestBatch([invalidFieldEvent(i, source)]));
    for (let i = 0; i < 100; i++) {
      evil('UNKNOWN_REASON', (source) => {
        const p = eventToProto(makeEvent(6 * i + 5, source));
        if (p.data?.$case === 'inferenceRequestCompleted') p.data.value.reason = 9 as pb.CompletionReason; // not a defined reason
        return withVersion([p]);
      });
    }
    for (let i = 0; i < 100; i++) evil('INVALID_UTF8', (source) => badUtf8Batch(i, source));
    for (let i = 0; i < 90; i++) evil('EMPTY_BATCH', () => withVersion([]));
    // Sent again by the node they came from (from any other node they would be FOREIGN_SOURCE).
    for (let i = 0; i < 100; i++) malformed.push({ code: 'duplicate_event', node: 'node-1', body: encodeIngestBatch([dupOf[i]!]) });
    for (let i = 0; i < 25; i++) evil('UNSUPPORTED_ENVELOPE', (source) => withVersion([eventToProto(makeEvent(4_000_000 + i, source))], 2));
    for (let i = 0; i < 25; i++) evil('MISSING_PAYLOAD', (source) => withVersion([{ source, eventId: `np-${i}`, observedAtMs: 1n, tenant: '', instanceId: 'x', data: undefined }]));
    for (let i = 0; i < 10; i++) evil('OVERSIZED', () => new Uint8Array(100 * 1024 + i).fill(0x0a));
    for (let i = 0; i < 10; i++) evil('UNSUPPORTED_ENVELOPE', () => new Uint8Array(0));
    expect(malformed).toHaveLength(1_000);

    // Valid traffic first (so the duplicates' originals are sealed), then the
    // hostile messages interleaved with more valid traffic.
    await publishEvents(nats.nc, CHAIN, valid.slice(0, 1_000), 10, 'node-1');
    await waitFor(async () => (await checkChain(nats.nc, CHAIN)).count >= 1_000, 30_000, 100, 'first valid events');
    let v = 1_000;
    for (let i = 0; i < malformed.length; i++) {
      await publishRaw(nats.nc, CHAIN, malformed[i]!.body, malformed[i]!.node);
      if (i % 25 === 24 && v < valid.length) {
        await publishEvents(nats.nc, CHAIN, valid.slice(v, v + 100), 10, 'node-1');
        v += 100;
      }
    }
    if (v < valid.length) await publishEvents(nats.nc, CHAIN, valid.slice(v), 10, 'node-1');

    // A batch mixing good and bad events: the good ones are sealed, the bad one dead-lettered.
    const mixedGood = makeEvents(10_000, 3, nodeSource(CHAIN, 'mixed'));
    const mixed = withVersion([eventToProto(mixedGood[0]!), eventToProto(invalidFieldEvent(0, nodeSource(CHAIN, 'mixed'))), eventToProto(mixedGood[1]!), eventToProto(mixedGood[2]!)]);
    await publishRaw(nats.nc, CHAIN, mixed, 'mixed');

    const expectedCounts: Record<string, number> = {};
    for (const m of malformed) expectedCounts[m.code] = (expectedCounts[m.code] ?? 0) + 1;
    expectedCounts['INVALID_FIELD']! += 1; // the bad event of the mixed batch

    await waitFor(
      async () => {
        const c = await dlqCounts(nats.nc, CHAIN);
        return Object.values(c).reduce((a, b) => a + b, 0) >= 1_001;
      },
      60_000,
      200,
      'dead letters',
    );
    await waitFor(async () => (await checkChain(nats.nc, CHAIN)).count >= valid.length + 3, 60_000, 200, 'valid events sealed');
    await sleep(300);

    // Nothing malformed reached the chain; every valid event is there exactly once.
    const check = await checkChain(nats.nc, CHAIN);
    expect(check.result.ok).toBe(true);
    expect(exactlyOnce(check.ids, [...valid, ...mixedGood])).toEqual({ missing: [], doubled: [], unexpected: [] });

    // Every malformed message is dead-lettered, with the expected code.
    expect(await dlqCounts(nats.nc, CHAIN)).toEqual(expectedCounts);

    // Counted in the metric, per code.
    const metric = await registry.getSingleMetricAsString('hwl_events_rejected_total');
    for (const [code, n] of Object.entries(expectedCounts)) expect(metric).toContain(`code="${code}"} ${n}`);

    // Dead letters carry reasons, the original subject and bytes (event-level
    // rejects: the event's own bytes as a one-event batch).
    const it2 = await (await jetstream(nats.nc).consumers.get(streams.dlq(CHAIN), { deliver_policy: DeliverPolicy.All })).consume();
    let seen = 0;
    for await (const m of it2) {
      const code = m.headers!.get(HEADERS.rejectCode);
      expect(m.headers!.get(HEADERS.rejectReason).length).toBeGreaterThan(0);
      expect(m.headers!.get(HEADERS.origSubject)).toMatch(new RegExp(`^hwl\\.ingest\\.${CHAIN}\\.`));
      expect(Number(m.headers!.get(HEADERS.ingestSeq))).toBeGreaterThan(0);
      if (code === 'duplicate_event' || code === 'INVALID_FIELD') {
        const d = decodeIngestBatch(m.data);
        expect(d.events).toHaveLength(1);
      }
      if (code === 'EMPTY_BATCH') expect(Array.from(m.data)).toEqual(Array.from(withVersion([])));
      if (++seen >= 1_001) break;
    }
    await it2.close();
    // The sequencer is still sealing.
    const late = makeEvents(20_000, 5, nodeSource(CHAIN, 'node-1', 'late'));
    await publishEvents(nats.nc, CHAIN, late, 5, 'node-1');
    await waitFor(async () => (await checkChain(nats.nc, CHAIN)).count >= valid.length + 3 + 5, 30_000, 100, 'late events');
  });

  it('an event repeated within one ingest message is sealed once; each repeat is dead-lettered', async () => {
    const before = await dlqCounts(nats.nc, CHAIN);
    const head = (await checkChain(nats.nc, CHAIN)).count;
    const repeat = nodeSource(CHAIN, 'repeat');
    const small = makeEvents(30_000, 3, repeat);
    // A large message too (more events than the fast path's per-message key table starts with), its repeat last.
    const large = makeEvents(31_000, 300, repeat);
    const [a, b, c] = [small[0]!, small[1]!, small[2]!];
    await publishRaw(nats.nc, CHAIN, encodeIngestBatch([a, b, a, c, b]), 'repeat');
    await publishRaw(nats.nc, CHAIN, encodeIngestBatch([...large, large[7]!]), 'repeat');
    // Then a small plain message: sealed through the fast path again.
    const after = makeEvents(32_000, 4, repeat);
    await publishRaw(nats.nc, CHAIN, encodeIngestBatch(after), 'repeat');
    const expected = [...small, ...large, ...after];
    await waitFor(async () => (await checkChain(nats.nc, CHAIN)).count >= head + expected.length, 30_000, 100, 'repeat messages sealed');
    await sleep(300);
    const check = await checkChain(nats.nc, CHAIN);
    expect(check.result.ok).toBe(true);
    expect(check.count).toBe(head + expected.length);
    const repeatIds = check.ids.filter((id) => id.startsWith(`${repeat}\n`));
    expect(exactlyOnce(repeatIds, expected)).toEqual({ missing: [], doubled: [], unexpected: [] });
    const now = await dlqCounts(nats.nc, CHAIN);
    expect((now['duplicate_event'] ?? 0) - (before['duplicate_event'] ?? 0)).toBe(3);
  });

  it('the ingest stream refuses messages over 1 MiB before they reach the sequencer', async () => {
    const h = headers();
    const big = new Uint8Array(1024 * 1024 + 10);
    await expect(jetstream(nats.nc).publish(subjects.ingest(CHAIN, 'node-1'), big, { headers: h, timeout: 5_000 })).rejects.toThrow();
  });
});

describe('an event may only speak for the node whose subject carried it', () => {
  const OWNERS = 'owners';
  const nats = useNatsServer();
  let seq: Sequencer;
  const registry = new Registry();

  beforeAll(async () => {
    seq = new Sequencer({ nc: nats.nc, chainId: OWNERS, registry, takeoverGraceMs: 0 });
    await seq.start();
  });

  afterAll(async () => {
    await seq?.stop();
  });

  /** Waits until `n` events have an outcome: sealed or dead-lettered. */
  async function settled(n: number, what: string): Promise<void> {
    const jsm = await jetstreamManager(nats.nc);
    await waitFor(async () => (await chainHead(nats.nc, OWNERS)) + (await jsm.streams.info(streams.dlq(OWNERS))).state.messages >= n, 30_000, 50, what);
    await sleep(300);
  }

  it("seals node-1's own sources from its subject, dead-letters any other as FOREIGN_SOURCE, and the ids it tried to take still seal for their node", async () => {
    const own = nodeSource(OWNERS, 'node-1'); // owners/node-1
    const below = nodeSource(OWNERS, 'node-1', 'sim-000'); // owners/node-1/sim-000
    const node2 = nodeSource(OWNERS, 'node-2');
    const node10 = nodeSource(OWNERS, 'node-10'); // starts with owners/node-1, but is not below it
    const otherChain = 'other/node-1'; // node-1 of another chain
    /** Event `i` of `source` with the given event id: a sealed event's key is (source, event id). */
    const ev = (i: number, source: string, eventId: string): ChainEvent => ({ ...makeEvent(i, source), eventId });
    const key = (e: ChainEvent): string => `${e.source}\n${e.eventId}`;

    // On node-1's subject: one event per message (owned ones take the fast path)...
    const single = [own, below, node2, node10, otherChain].map((source, i) => ev(i, source, 'req-single'));
    for (const e of single) await publishRaw(nats.nc, OWNERS, encodeIngestBatch([e]), 'node-1');
    // ...and one message mixing owned and foreign events (the reference path, event by event).
    const batch = [ev(10, own, 'req-batch'), ev(11, node2, 'req-batch'), ev(12, node10, 'req-batch'), ev(13, below, 'req-batch'), ev(14, otherChain, 'req-batch')];
    await publishRaw(nats.nc, OWNERS, encodeIngestBatch(batch), 'node-1');
    await settled(single.length + batch.length, "node-1's messages handled");

    // Later the real node-2 and node-10 send their events with those ids, each on its own subject: sealed, not duplicates.
    const real2 = [ev(20, node2, 'req-single'), ev(21, node2, 'req-batch')];
    const real10 = [ev(22, node10, 'req-single'), ev(23, node10, 'req-batch')];
    await publishEvents(nats.nc, OWNERS, real2, 1, 'node-2');
    await publishEvents(nats.nc, OWNERS, real10, 1, 'node-10');
    await settled(single.length + batch.length + real2.length + real10.length, 'the real events handled');

    // Sealed: exactly node-1's own and below-own events, in ingest order, then the real ones.
    const check = await checkChain(nats.nc, OWNERS);
    expect(check.result.ok).toBe(true);
    expect(check.ids).toEqual([single[0]!, single[1]!, batch[0]!, batch[3]!, ...real2, ...real10].map(key));

    // Dead-lettered: each foreign event, once, as FOREIGN_SOURCE naming its source; nothing else (no duplicate_event).
    const foreign = new Map<string, { source: string; index: string }>();
    for (const i of [2, 3, 4]) foreign.set(key(single[i]!), { source: single[i]!.source, index: '0' });
    for (const i of [1, 2, 4]) foreign.set(key(batch[i]!), { source: batch[i]!.source, index: String(i) });
    const letters = await readDeadLetters(nats.nc, OWNERS);
    expect(letters).toHaveLength(foreign.size);
    const lettered: string[] = [];
    for (const l of letters) {
      const d = decodeIngestBatch(l.data);
      expect(d.events).toHaveLength(1);
      const e = d.events[0]!;
      if (!e.ok) throw new Error(`dead letter body does not decode: ${e.message}`);
      const want = foreign.get(key(e.event));
      expect(want, key(e.event)).toBeDefined();
      expect(l.code).toBe('FOREIGN_SOURCE');
      expect(l.reason).toContain(JSON.stringify(want!.source));
      expect(l.reason).toContain(own);
      expect(l.origSubject).toBe(subjects.ingest(OWNERS, 'node-1'));
      expect(l.index).toBe(want!.index);
      lettered.push(key(e.event));
    }
    expect(lettered.sort()).toEqual([...foreign.keys()].sort());
    expect(await dlqCounts(nats.nc, OWNERS)).toEqual({ FOREIGN_SOURCE: 6 });
    const metric = await registry.getSingleMetricAsString('hwl_events_rejected_total');
    expect(metric).toContain('code="FOREIGN_SOURCE"} 6');
  });
});
