/**
 * The outbox across NATS outages (issue 3: "the agent's outbox across a NATS
 * server restart: nothing lost"): events are submitted continuously while the
 * server restarts and then stays down for seconds; afterwards every accepted
 * event is in the ingest stream exactly once, in submission order per source.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { TestNatsServer, waitFor } from '@hwledger/testkit';
import { Agent, simulateFleet, type Acceptance } from '@hwledger/agent';
import { duplicates, key, readIngest, sleep } from './helpers.js';

let server: TestNatsServer;
const tmp = mkdtempSync(join(tmpdir(), 'hwl-agent-restart-'));

beforeAll(async () => {
  server = await TestNatsServer.start();
});
afterAll(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('outbox across NATS server restarts', () => {
  it('publishing continuously through restart() and a 3 s outage: every accepted event stored exactly once, in order', async () => {
    const chainId = 'outage';
    const agent = await Agent.open({ chainId, node: 'edge-1', natsUrl: server.url, outboxDir: join(tmp, 'outbox'), publishTimeoutMs: 2_000, batchMaxDelayMs: 2 });
    await waitFor(() => agent.connected, 10_000, 20, 'agent connected');
    const events = simulateFleet({ source: agent.source, seed: 11, nodes: 4, gpusPerNode: 4, startMs: 1_795_000_000_000 });
    const accepted: string[] = [];
    const submitted: string[] = [];
    const stored = { jetstream: 0, outbox: 0 };
    let refused = 0;
    let maxDepth = 0;
    let producing = true;
    const pending: Promise<void>[] = [];
    const producer = (async () => {
      // ~1500 events/s, each awaited only for bookkeeping (submission order is the agent's order).
      while (producing) {
        for (let i = 0; i < 15; i++) {
          const e = events.next().value!;
          submitted.push(key(e));
          pending.push(
            agent.submit(e).then(
              (a: Acceptance) => {
                accepted.push(key(e));
                stored[a.stored]++;
              },
              () => void refused++,
            ),
          );
        }
        maxDepth = Math.max(maxDepth, agent.outbox.depthEvents);
        await sleep(10);
      }
    })();

    await sleep(1_000);
    await server.restart(); // broker restart
    await sleep(1_500);
    await server.kill(); // down for a few seconds
    await sleep(3_000);
    await server.restart();
    await sleep(1_500);
    producing = false;
    await producer;
    await Promise.all(pending);
    expect(await agent.drained(60_000)).toBe(true);
    const metrics = await agent.registry.metrics();
    await agent.stop();

    expect(refused).toBe(0);
    expect(accepted.length).toBe(submitted.length);
    expect(accepted.length).toBeGreaterThan(5_000);
    expect(stored.outbox).toBeGreaterThan(1_000); // the outage really went through the outbox
    expect(maxDepth).toBeGreaterThan(0);
    expect(metrics).toMatch(/hwl_agent_events_published_total\{via="outbox"\} [1-9]/);

    const nc: NatsConnection = await connect({ servers: server.url });
    try {
      const got = (await readIngest(nc, chainId)).flatMap((m) => m.events).map(key);
      expect(duplicates(got)).toEqual([]); // exactly once
      const inStream = new Set(got);
      expect(accepted.filter((k) => !inStream.has(k))).toEqual([]); // nothing lost
      expect(got).toEqual(submitted); // in submission order (per source and overall)
    } finally {
      await nc.close();
    }
  });
});
