/**
 * An ingest stream past sequence 2^53 (purged or created there): the
 * sequencer tracks ingest sequences as exact numbers below that, so it stops
 * for good with FAILED_PRECONDITION, saying what to do, and seals nothing,
 * rather than take one message for another (and skip it) or retry forever.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { connectNats, ensureChainTopology, streams } from '@hwledger/core';
import { TestNatsServer } from '@hwledger/testkit';
import { Sequencer } from '@hwledger/sequencer';
import { makeEvents, publishEvents } from './helpers.js';

const CHAIN = 'seq-limit';

describe('ingest sequences past 2^53', () => {
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

  it('stop the sequencer for good (FAILED_PRECONDITION) with nothing sealed and the ingest message kept', async () => {
    const jsm = await ensureChainTopology(nc, CHAIN);
    // A purge up to a sequence moves an empty stream's next sequence there (nats-server 2.9 has no first_seq).
    await jsm.streams.purge(streams.ingest(CHAIN), { seq: 2 ** 53 + 4 });
    await publishEvents(nc, CHAIN, makeEvents(0, 3), 3);
    expect((await jsm.streams.info(streams.ingest(CHAIN))).state.first_seq).toBeGreaterThan(Number.MAX_SAFE_INTEGER);
    const seq = new Sequencer({ nc, chainId: CHAIN, registry: new Registry(), takeoverGraceMs: 0 });
    await seq.start();
    const outcome = await Promise.race([seq.done.then(() => 'resolved', (e: unknown) => e), new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
    await seq.stop();
    expect(outcome).toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/past sequence 2\^53.*recreate the ingest stream/) });
    const after = await jetstreamManager(nc);
    expect((await after.streams.info(streams.chain(CHAIN))).state.messages).toBe(0);
    expect((await after.streams.info(streams.ingest(CHAIN))).state.messages).toBe(1);
  });
});
