/**
 * The leader bucket keeps the TTL it was created with: a sequencer told a
 * longer --lease-ttl-ms must not believe its lease valid longer than the
 * server keeps the key (a standby would take over while it still appends).
 * Real nats-server.
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { ensureChainTopology, streams } from '@hwledger/core';
import { useNatsServer } from '@hwledger/testkit';
import { INGEST_CONSUMER, openLeaderBucket, Sequencer, type Lease } from '@hwledger/sequencer';
import { makeEvents, nodeSource, publishEvents } from './helpers.js';

const nats = useNatsServer();

describe('lease TTL', () => {
  it('uses the bucket TTL when it is shorter than the configured one, and says so', async () => {
    await ensureChainTopology(nats.nc, 'ttl');
    await openLeaderBucket(nats.nc, 2_000); // created first, by another process, with a 2 s TTL
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const seq = new Sequencer({ nc: nats.nc, chainId: 'ttl', registry: new Registry(), logger, takeoverGraceMs: 0, leaseTtlMs: 10_000 });
    await seq.start();
    try {
      const warn = lines.find((l) => String(l['msg']).includes('lease bucket expires keys sooner'));
      expect(warn).toMatchObject({ configuredTtlMs: 10_000, bucketTtlMs: 2_000 });
      const lease = (seq as unknown as { lease: { opts: { ttlMs: number; marginMs: number } } }).lease;
      expect(lease.opts.ttlMs).toBe(2_000);
      expect(lease.opts.marginMs).toBeLessThan(2_000);
    } finally {
      await seq.stop();
    }
  });
});

describe('a lease that runs out while the session is being prepared', () => {
  it('does not start the session: the new leader keeps its ingest consumer, nothing is sealed', async () => {
    const chain = 'lease-lapse';
    await ensureChainTopology(nats.nc, chain);
    const jsm = await jetstreamManager(nats.nc);
    // The new leader's consumer (a session of another process).
    await jsm.consumers.add(streams.ingest(chain), { durable_name: `${INGEST_CONSUMER}-other`, ack_policy: AckPolicy.All });
    await publishEvents(nats.nc, chain, makeEvents(0, 10, nodeSource(chain, 'node-1', 'a')), 10);
    // Granted once; valid when leadership starts, expired by the time the tail is read and warmed up.
    let acquired = false;
    let checks = 0;
    const lease: Lease = {
      get held() {
        return acquired;
      },
      isValid: () => ++checks <= 1,
      tryAcquire: () => Promise.resolve(acquired ? false : (acquired = true)),
      renew: () => Promise.resolve(true),
      release: () => Promise.resolve(),
      currentHolder: () => Promise.resolve('other'),
    };
    const seq = new Sequencer({ nc: nats.nc, chainId: chain, registry: new Registry(), lease, takeoverGraceMs: 0 });
    await seq.start();
    await new Promise((r) => setTimeout(r, 1_500));
    await seq.stop();
    const names: string[] = [];
    for await (const ci of jsm.consumers.list(streams.ingest(chain))) names.push(ci.name);
    expect(names).toEqual([`${INGEST_CONSUMER}-other`]);
    expect((await jsm.streams.info(streams.chain(chain))).state.messages).toBe(0);
    expect(checks).toBeGreaterThanOrEqual(2);
  });
});

describe('a clean stop while a lease renewal is in flight', () => {
  it('releases the lease only after the renewal settled (else the renewal re-takes the key after the delete)', async () => {
    const chain = 'lease-release';
    await ensureChainTopology(nats.nc, chain);
    const log: string[] = [];
    let acquired = false;
    let inFlight = 0;
    const lease: Lease = {
      get held() {
        return acquired;
      },
      isValid: () => acquired,
      tryAcquire: () => Promise.resolve(acquired ? false : (acquired = true)),
      // A renewal that takes a while (a slow KV update): the stop below comes while one is in flight.
      renew: async () => {
        inFlight++;
        log.push('renew');
        await new Promise((r) => setTimeout(r, 300));
        inFlight--;
        log.push('renewed');
        return true;
      },
      release: () => {
        log.push(inFlight > 0 ? 'release while renewing' : 'release');
        acquired = false;
        return Promise.resolve();
      },
      currentHolder: () => Promise.resolve(undefined),
    };
    const seq = new Sequencer({ nc: nats.nc, chainId: chain, registry: new Registry(), lease, takeoverGraceMs: 0, leaseRenewMs: 20 });
    await seq.start();
    while (inFlight === 0) await new Promise((r) => setTimeout(r, 5));
    await seq.stop();
    expect(log).toContain('renew');
    expect(log.at(-1)).toBe('release');
    expect(log).not.toContain('release while renewing');
  });
});
