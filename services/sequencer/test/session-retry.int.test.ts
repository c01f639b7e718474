/**
 * A session whose ingest consumer cannot be created (here: the ingest stream
 * allows one consumer and another tool holds it) fails, and the leader tries
 * again with backoff, for as long as the trouble lasts. Each try builds an
 * append pipeline (a PubAck subscription and a timeout timer); a failed try
 * must release it, or a sequencer left retrying for hours accumulates one
 * subscription per try. Real nats-server.
 */
import { describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connectNats, ensureChainTopology, ingestStreamConfig, streams } from '@hwledger/core';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { Sequencer } from '@hwledger/sequencer';
import { chainHead, makeEvents, nodeSource, publishEvents } from './helpers.js';

const nats = useNatsServer();

/** Subscriptions the client holds on this connection (nats.js keeps them in protocol.subscriptions). */
const subscriptionsOf = (c: NatsConnection): number => (c as unknown as { protocol: { subscriptions: { size(): number } } }).protocol.subscriptions.size();

describe('a session whose ingest consumer cannot be created', () => {
  it('is retried without leaking its PubAck subscription, and seals once the consumer can be made', async () => {
    const chain = 'no-consumer';
    const jsm = await jetstreamManager(nats.nc);
    await jsm.streams.add({ ...ingestStreamConfig(chain), max_consumers: 1 });
    await ensureChainTopology(nats.nc, chain);
    // Another tool's consumer takes the only slot (not a sequencer's: it is not removed).
    await jsm.consumers.add(streams.ingest(chain), { durable_name: 'audit-tool', ack_policy: AckPolicy.Explicit });
    await publishEvents(nats.nc, chain, makeEvents(0, 20, nodeSource(chain, 'node-1', 'a')), 10);

    const seqNc = await connectNats(nats.url, 'sequencer');
    const failures: number[] = [];
    const logger = pino({ level: 'warn' }, {
      write: (s: string) => {
        const l = JSON.parse(s) as { msg?: string };
        if (l.msg === 'sealing session failed') failures.push(subscriptionsOf(seqNc));
      },
    });
    const seq = new Sequencer({ nc: seqNc, chainId: chain, registry: new Registry(), logger, takeoverGraceMs: 0 });
    await seq.start();
    try {
      // Backoff 50, 100, 200, 400 ms...: five failed tries in about 1.5 s.
      await waitFor(() => failures.length >= 5, 15_000, 20, 'five failed sessions');
      // The same number of subscriptions after every failed try (one more per try without the release).
      expect(new Set(failures).size).toBe(1);
      expect(await chainHead(nats.nc, chain)).toBe(0);

      // The slot frees up: the next try seals everything.
      await jsm.consumers.delete(streams.ingest(chain), 'audit-tool');
      await waitFor(async () => (await chainHead(nats.nc, chain)) === 20, 20_000, 50, 'all 20 events sealed');
    } finally {
      await seq.stop();
      await seqNc.close();
    }
  });
});
