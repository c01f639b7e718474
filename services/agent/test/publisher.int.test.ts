/**
 * Agent -> ingest stream on a real nats-server: batching bounds, order,
 * acceptance only after PubAck, and Nats-Msg-Id dedup when a batch is sent again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { eventToJson } from '@hwledger/chain';
import { ensureChainTopology, streams, subjects } from '@hwledger/core';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { Agent, IngestBatchBuilder, Outbox, runEvents, simulateFleet } from '@hwledger/agent';
import { duplicates, key, readIngest } from './helpers.js';

const nats = useNatsServer();
const tmp = mkdtempSync(join(tmpdir(), 'hwl-agent-pub-'));
const START = 1_795_000_000_000;

afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
});

async function openAgent(chainId: string, o: Partial<Parameters<typeof Agent.open>[0]> = {}): Promise<Agent> {
  const agent = await Agent.open({ chainId, node: 'n1', natsUrl: nats.url, outboxDir: join(tmp, `${chainId}-${Math.random()}`), ...o });
  await waitFor(() => agent.connected, 10_000, 20, 'agent connected');
  return agent;
}

describe('agent publisher', () => {
  it('batches events into bounded IngestBatch messages on hwl.ingest.<chain>.<node>, in order, each once', async () => {
    const chainId = 'pub-batch';
    const agent = await openAgent(chainId, { batchMaxEvents: 200, batchMaxBytes: 16 * 1024, batchMaxDelayMs: 20 });
    const events = [...simulateFleet({ source: `${chainId}/n1`, seed: 3, startMs: START, count: 5_000 })];
    const r = await runEvents(agent, events);
    expect(r).toEqual({ submitted: 5_000, accepted: 5_000, refused: 0 });
    await agent.stop();
    const msgs = await readIngest(nats.nc, chainId);
    expect(msgs.every((m) => m.subject === subjects.ingest(chainId, 'n1'))).toBe(true);
    expect(msgs.length).toBeLessThan(5_000 / 10); // batched
    expect(Math.max(...msgs.map((m) => m.events.length))).toBeLessThanOrEqual(200);
    expect(Math.max(...msgs.map((m) => m.bytes))).toBeLessThanOrEqual(16 * 1024);
    const got = msgs.flatMap((m) => m.events);
    expect(got.map((e) => JSON.stringify(eventToJson(e)))).toEqual(events.map((e) => JSON.stringify(eventToJson(e))));
    expect(new Set(msgs.map((m) => m.msgId)).size).toBe(msgs.length);
  });

  it('accepted means stored: every resolved submit is already in the stream', async () => {
    const chainId = 'pub-ack';
    const agent = await openAgent(chainId);
    const jsm = await jetstreamManager(nats.nc);
    const events = [...simulateFleet({ source: `${chainId}/n1`, seed: 4, startMs: START, count: 50 })];
    for (const e of events) {
      const a = await agent.submit(e);
      expect(a.stored).toBe('jetstream');
      const got = (await readIngest(nats.nc, chainId)).flatMap((m) => m.events).map(key);
      expect(got).toContain(key(e));
    }
    expect((await jsm.streams.info(streams.ingest(chainId))).state.messages).toBe(50);
    await agent.stop();
  });

  it('a batch sent again (lost PubAck, replay after restart) is dropped by Nats-Msg-Id', async () => {
    const chainId = 'pub-dedup';
    const jsm = await ensureChainTopology(nats.nc, chainId);
    const dir = join(tmp, 'dedup-outbox');
    const events = [...simulateFleet({ source: `${chainId}/n1`, seed: 5, startMs: START, count: 300 })];
    // An earlier run published these batches, then crashed before saving its flush position:
    const b = new IngestBatchBuilder();
    const batches = [];
    for (let i = 0; i < 300; i += 100) {
      for (const e of events.slice(i, i + 100)) b.add(e, IngestBatchBuilder.encode(e));
      batches.push(b.seal());
    }
    const js = jetstream(nats.nc);
    for (const s of batches.slice(0, 2)) await js.publish(subjects.ingest(chainId, 'n1'), s.body, { msgID: s.msgId });
    const box = await Outbox.open(dir);
    await box.append(batches.map((s) => ({ msgId: s.msgId, body: s.body, events: s.events })));
    await box.close();
    // The restarted agent replays all three: the first two are duplicates.
    const agent = await Agent.open({ chainId, node: 'n1', natsUrl: nats.url, outboxDir: dir });
    expect(await agent.drained(15_000)).toBe(true);
    const dupMetric = (await agent.registry.getSingleMetricAsString('hwl_agent_duplicate_events_total'));
    await agent.stop();
    expect(dupMetric).toContain('hwl_agent_duplicate_events_total 200');
    const msgs = await readIngest(nats.nc, chainId);
    expect(msgs).toHaveLength(3);
    const ids = msgs.flatMap((m) => m.events).map(key);
    expect(ids).toEqual(events.map(key));
    expect(duplicates(ids)).toEqual([]);
    expect((await jsm.streams.info(streams.ingest(chainId))).state.messages).toBe(3);
  });

  it('rejects events the sequencer would refuse, synchronously, storing none of them', async () => {
    const chainId = 'pub-invalid';
    const agent = await openAgent(chainId);
    const [good] = [...simulateFleet({ source: `${chainId}/n1`, seed: 6, startMs: START, count: 1 })];
    expect(() => agent.submit({ ...good!, tenant: 'not a token' })).toThrow(/tenant/);
    expect(() => agent.submit({ ...good!, eventId: '' })).toThrow(/event_id/);
    // A source that is not this agent's (<chain>/n1 or below it): the sequencer would dead-letter it as FOREIGN_SOURCE.
    for (const source of [`${chainId}/n2`, `${chainId}/n10`, `${chainId}/n1/`, `other/n1`, 'n1']) {
      expect(() => agent.submit({ ...good!, source }), source).toThrow(expect.objectContaining({ code: 'INVALID_FIELD', message: expect.stringContaining('FOREIGN_SOURCE') as string }));
    }
    await agent.submit({ ...good!, source: `${chainId}/n1` });
    await agent.stop();
    const jsm = await jetstreamManager(nats.nc);
    // Only the event of its own source was stored.
    expect((await jsm.streams.info(streams.ingest(chainId))).state.messages).toBe(1);
  });
});
