/**
 * The ingest stream deleted while the agent stays connected (an operator
 * mistake, or a stream re-created with other settings): the publish that no
 * stream answers sends the agent back through its setup, which re-creates
 * the stream; the events accepted meanwhile wait in the outbox and all reach
 * the new stream, in order, each once. Real nats-server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { streams } from '@hwledger/core';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { Agent, simulateFleet } from '@hwledger/agent';
import { duplicates, key, readIngest } from './helpers.js';

const nats = useNatsServer();
const tmp = mkdtempSync(join(tmpdir(), 'hwl-agent-recreate-'));

afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('agent with its ingest stream deleted under it', () => {
  it('re-creates the stream and delivers every event accepted after the deletion', async () => {
    const chainId = 'recreate';
    const agent = await Agent.open({ chainId, node: 'n1', natsUrl: nats.url, outboxDir: join(tmp, 'outbox'), batchMaxDelayMs: 2 });
    try {
      await waitFor(() => agent.connected, 10_000, 20, 'agent connected');
      const events = [...simulateFleet({ source: agent.source, seed: 11, startMs: 1_795_000_000_000, count: 200 })];
      for (const e of events.slice(0, 50)) expect((await agent.submit(e)).stored).toBe('jetstream');
      const jsm = await jetstreamManager(nats.nc);
      await jsm.streams.delete(streams.ingest(chainId));
      // Accepted while there is no stream: stored in the outbox (never refused, never lost).
      const after = events.slice(50);
      const stored = await Promise.all(after.map((e) => agent.submit(e)));
      expect(stored.every((a) => a.stored === 'jetstream' || a.stored === 'outbox')).toBe(true);
      // The agent re-creates the stream and flushes its outbox into it.
      await waitFor(async () => (await jsm.streams.info(streams.ingest(chainId)).catch(() => undefined)) !== undefined, 15_000, 50, 'ingest stream re-created');
      expect(await agent.drained(15_000)).toBe(true);
      const ids = (await readIngest(nats.nc, chainId)).flatMap((m) => m.events).map(key);
      expect(ids).toEqual(after.map(key));
      expect(duplicates(ids)).toEqual([]);
      expect(agent.connected).toBe(true);
    } finally {
      await agent.stop();
    }
  });
});
