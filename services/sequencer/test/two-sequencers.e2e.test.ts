/**
 * Two `hwledger sequencer` processes on one chain for the whole run (default
 * lease settings): one seals, the other stands by; no fork, nothing lost or
 * doubled. Then the leader is killed with SIGKILL and the standby takes over
 * within seconds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { ensureChainTopology, KV_BUCKETS } from '@hwledger/core';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { chainHead, checkChain, exactlyOnce, makeEvents, nodeSource, publishEvents, sleep } from './helpers.js';
import { startSequencer, type SequencerProcess } from './processes.js';

const CHAIN = 'twins';

async function leaderPid(nc: NatsConnection): Promise<number | undefined> {
  const kv = await new Kvm(nc).open(KV_BUCKETS.leader);
  const e = await kv.get(CHAIN);
  if (!e || e.operation !== 'PUT') return undefined;
  return (JSON.parse(e.string()) as { pid?: number }).pid;
}

describe('two sequencers', () => {
  const nats = useNatsServer();
  const procs: SequencerProcess[] = [];

  beforeAll(async () => {
    await ensureChainTopology(nats.nc, CHAIN);
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill9()));
  });

  it('one seals, one stands by; no fork, nothing lost or doubled; the standby takes over within seconds', async () => {
    const a = startSequencer(nats.url, CHAIN);
    const b = startSequencer(nats.url, CHAIN);
    procs.push(a, b);
    const first = makeEvents(0, 20_000, nodeSource(CHAIN));
    for (let i = 0; i < first.length; i += 2_000) {
      await publishEvents(nats.nc, CHAIN, first.slice(i, i + 2_000), 20);
      await sleep(100);
    }
    await waitFor(async () => (await chainHead(nats.nc, CHAIN)) >= first.length, 60_000, 100, 'first events sealed');
    const pid = await waitFor(() => leaderPid(nats.nc), 10_000, 100, 'a leader');
    expect([a.pid, b.pid]).toContain(pid);
    const [leader, standby] = pid === a.pid ? [a, b] : [b, a];
    expect(standby.proc.exitCode).toBeNull(); // still standing by

    // Kill the leader; new events must be sealed by the standby within seconds.
    await leader.kill9();
    const killedAt = Date.now();
    const second = makeEvents(20_000, 2_000, nodeSource(CHAIN));
    await publishEvents(nats.nc, CHAIN, second, 20);
    await waitFor(async () => (await chainHead(nats.nc, CHAIN)) > first.length, 20_000, 50, 'takeover');
    const takeoverMs = Date.now() - killedAt;
    await waitFor(async () => (await chainHead(nats.nc, CHAIN)) >= first.length + second.length, 30_000, 100, 'all events sealed');
    expect(await leaderPid(nats.nc)).toBe(standby.pid);
    // Default lease: 5 s TTL + 0.5 s poll + 1 s grace.
    expect(takeoverMs).toBeLessThan(9_000);

    await sleep(300);
    expect((await standby.term()).code).toBe(0);
    const check = await checkChain(nats.nc, CHAIN);
    expect(check.result.ok).toBe(true);
    expect(check.count).toBe(first.length + second.length);
    expect(exactlyOnce(check.ids, [...first, ...second])).toEqual({ missing: [], doubled: [], unexpected: [] });
    // The standby logged that it stood by, then took over.
    expect(standby.logs()).toContain('standing by');
    expect(standby.logs()).toContain('acquired the lease');
    process.stdout.write(`takeover after kill -9 of the leader: ${takeoverMs} ms\n`);
  });
});
