/**
 * Fencing alone keeps the chain whole. Two (then three) sequencers are given
 * a lease that is always granted, so they all append at the same time for
 * the whole run, with pipelined appends, on one chain: no fork (the chain
 * verifies from genesis, header claims included), nothing lost, nothing
 * sealed twice. Without the expected-last-sequence / expected-last-msg-id
 * fence, concurrent appends would interleave and break links.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, createLogger } from '@hwledger/core';
import { TestNatsServer, waitFor } from '@hwledger/testkit';
import { Sequencer, type Lease } from '@hwledger/sequencer';
import { Registry } from 'prom-client';
import { chainHead, checkChain, exactlyOnce, makeEvents, nodeSource, publishEvents, sleep } from './helpers.js';

const alwaysGranted = (): Lease => ({
  held: true,
  isValid: () => true,
  tryAcquire: () => Promise.resolve(true),
  renew: () => Promise.resolve(true),
  release: () => Promise.resolve(),
  currentHolder: () => Promise.resolve('everyone'),
});

describe('concurrent writers', () => {
  let server: TestNatsServer;
  const conns: NatsConnection[] = [];
  const seqs: Sequencer[] = [];

  beforeAll(async () => {
    server = await TestNatsServer.start();
  });

  afterAll(async () => {
    await Promise.all(seqs.map((s) => s.stop()));
    await Promise.all(conns.map((c) => c.close()));
    await server?.stop();
  });

  it('three sequencers appending at once never fork the chain', async () => {
    const CHAIN = 'fence';
    const registry = new Registry();
    for (let i = 0; i < 3; i++) {
      const nc = await connectNats(server.url, `writer-${i}`);
      conns.push(nc);
      const s = new Sequencer({ nc, chainId: CHAIN, registry, lease: alwaysGranted(), takeoverGraceMs: 0, window: 256, instanceId: `w${i}`, ...(process.env['FDEBUG'] ? { logger: createLogger('seq') } : {}) });
      seqs.push(s);
      await s.start();
    }
    const fencedCount = async (): Promise<number> => {
      const text = await registry.getSingleMetricAsString('hwl_sequencer_fenced_total');
      return Number(/hwl_sequencer_fenced_total\{[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    // Traffic until the writers have really competed (an append refused by the fence), at least
    // 15,000 events and at most 60,000: on a loaded machine one writer can get ahead for a while,
    // and a run in which none was ever fenced would prove nothing.
    const events = makeEvents(0, 60_000, nodeSource(CHAIN));
    let sent = 0;
    while (sent < events.length && (sent < 15_000 || (await fencedCount()) === 0)) {
      await publishEvents(conns[0]!, CHAIN, events.slice(sent, sent + 1_000), 10);
      sent += 1_000;
      await sleep(50);
    }
    events.length = sent;
    await waitFor(async () => (await chainHead(conns[0]!, CHAIN)) >= events.length, 120_000, 200, 'all events sealed');
    await sleep(500); // anything sealed twice would show up now
    const check = await checkChain(conns[0]!, CHAIN);
    expect(check.result.ok, JSON.stringify(check.result, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).toBe(true);
    expect(exactlyOnce(check.ids, events)).toEqual({ missing: [], doubled: [], unexpected: [] });
    // The writers really competed: appends were refused by the fence.
    expect(await fencedCount()).toBeGreaterThan(0);
  });
});
