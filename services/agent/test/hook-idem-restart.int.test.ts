/**
 * The hook's idempotency cache lives in the agent's memory (bounded), so it
 * does not survive an agent restart: a retry with the same eventId after a
 * restart is accepted again (`duplicate: false`) and, travelling in another
 * batch, reaches the ingest stream under another Nats-Msg-Id (found by a
 * review helper: the docs promised "adds nothing" without that limit). What
 * holds across the restart is the chain: the sequencer refuses the second
 * copy by (source, event_id) as `duplicate_event`, so the event is sealed
 * once. docs/agent.md says so. Real nats-server, agent and sequencer in
 * process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { connect } from '@nats-io/transport-node';
import { ensureChainTopology } from '@hwledger/core';
import { TestNatsServer, waitFor } from '@hwledger/testkit';
import { Sequencer } from '@hwledger/sequencer';
import { Agent, HookClient, startHookServer } from '@hwledger/agent';
import { readIngest } from './helpers.js';
import { checkChain, dlqCounts } from '../../sequencer/test/helpers.js';

let server: TestNatsServer;
const tmp = mkdtempSync(join(tmpdir(), 'hwl-idem-restart-'));
beforeAll(async () => {
  server = await TestNatsServer.start();
});
afterAll(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const req = (id: string) => ({ tenant_id: 'acme', request_id: id, total_tokens: 5, compute_ms: 9n, reason: 'end_of_sequence' as const });

describe('idempotent retry across an agent restart', () => {
  it('is accepted again by the restarted agent, and the chain still seals the event once', async () => {
    const chain = 'idem-restart';
    const outboxDir = join(tmp, 'o');
    const opts = { chainId: chain, node: 'serve-1', natsUrl: server.url, outboxDir, publishTimeoutMs: 1_000, batchMaxDelayMs: 50 };
    const a1 = await Agent.open(opts);
    await waitFor(() => a1.connected, 10_000, 20, 'connected');
    await server.kill();
    await waitFor(() => !a1.connected, 10_000, 20, 'outage seen');
    const h1 = await startHookServer({ agent: a1, port: 0 });
    const c1 = new HookClient(h1.url);
    // The harness's call for K is stored (outbox, with another event in its batch); say its answer was lost.
    const [k] = await Promise.all([c1.inferenceCompleted(req('k'), { eventId: 'harness-k' }), c1.inferenceCompleted(req('x'), { eventId: 'harness-x' })]);
    expect(k.stored).toBe('outbox');
    // Before the restart, the retry is answered from the cache: nothing added.
    expect((await c1.inferenceCompleted(req('k'), { eventId: 'harness-k' })).duplicate).toBe(true);
    await h1.close({ drainTimeoutMs: 0 });
    await a1.stop({ flushTimeoutMs: 0 }); // the agent restarts
    await server.restart();
    const a2 = await Agent.open(opts);
    const h2 = await startHookServer({ agent: a2, port: 0 });
    expect(await a2.drained(30_000)).toBe(true);
    // The retry after the restart: a new event to this agent, in another batch.
    const retry = await new HookClient(h2.url).inferenceCompleted(req('k'), { eventId: 'harness-k' });
    expect(retry.duplicate).toBe(false);
    expect(await a2.drained(10_000)).toBe(true);
    await h2.close({ drainTimeoutMs: 0 });
    await a2.stop({ flushTimeoutMs: 0 });
    const nc = await connect({ servers: server.url });
    try {
      const msgs = await readIngest(nc, chain);
      const copies = msgs.flatMap((m) => m.events.filter((e) => e.eventId === 'harness-k').map(() => m.msgId));
      expect(new Set(copies).size).toBe(2); // two copies, two message ids: the stream keeps both
      // The chain: K and X once each, the second K dead-lettered as a duplicate.
      await ensureChainTopology(nc, chain);
      const seq = new Sequencer({ nc, registry: new Registry(), chainId: chain, takeoverGraceMs: 0 });
      await seq.start();
      try {
        await waitFor(async () => (await checkChain(nc, chain)).count >= 2 && (await dlqCounts(nc, chain))['duplicate_event'] === 1, 20_000, 50, 'K and X sealed, the second K dead-lettered');
      } finally {
        await seq.stop();
      }
      const check = await checkChain(nc, chain);
      expect(check.result.ok).toBe(true);
      expect(check.ids.map((id) => id.split('\n')[1]).sort()).toEqual(['harness-k', 'harness-x']);
      expect(await dlqCounts(nc, chain)).toEqual({ duplicate_event: 1 });
    } finally {
      await nc.close();
    }
  }, 90_000);
});
