/**
 * The leader bucket keeps the TTL it was created with: a sequencer told a
 * longer --lease-ttl-ms must not believe its lease valid longer than the
 * server keeps the key (a standby would take over while it still appends).
 * Real nats-server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { connectNats, ensureChainTopology } from '@hwledger/core';
import { TestNatsServer } from '@hwledger/testkit';
import { openLeaderBucket, Sequencer } from '@hwledger/sequencer';

let server: TestNatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await TestNatsServer.start();
  nc = await connectNats(server.url, 'test');
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe('lease TTL', () => {
  it('uses the bucket TTL when it is shorter than the configured one, and says so', async () => {
    await ensureChainTopology(nc, 'ttl');
    await openLeaderBucket(nc, 2_000); // created first, by another process, with a 2 s TTL
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const seq = new Sequencer({ nc, chainId: 'ttl', registry: new Registry(), logger, takeoverGraceMs: 0, leaseTtlMs: 10_000 });
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
