/**
 * The ingest stream deleted and created again (an operator, or the agents'
 * and sequencer's own recovery, which re-create missing streams): its
 * sequences start over below the chain's watermark. The sequencer must
 * consume the new stream from its start, not purge its first messages or
 * skip their events as already handled. Also: a hostile message of more
 * events than any producer sends is one dead letter, not one per event; a
 * tail without hash headers is refused; a dead letter re-published by a
 * restarted session is counted once, and a new rejection at an old position
 * of a re-created stream is not taken for it.
 * Real nats-server, in-process sequencer.
 */
import { describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { ensureChainTopology, streams } from '@hwledger/core';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { MAX_EVENTS_PER_MESSAGE, RawHeaders, readChainTail, Sequencer } from '@hwledger/sequencer';
import { sealEvent } from '@hwledger/chain';
import { HEADERS, subjects } from '@hwledger/core';
import { checkChain, dlqCounts, exactlyOnce, makeEvents, nodeSource, publishEvents, publishRaw } from './helpers.js';

const nats = useNatsServer();

async function sealAll(chain: string, count: number, now?: () => number): Promise<void> {
  const seq = new Sequencer({ nc: nats.nc, chainId: chain, registry: new Registry(), takeoverGraceMs: 0, ...(now ? { now } : {}) });
  await seq.start();
  try {
    await waitFor(async () => (await checkChain(nats.nc, chain)).count >= count, 30_000, 50, `${count} records`);
  } finally {
    await seq.stop();
  }
}

async function recreateIngest(chain: string): Promise<void> {
  const jsm = await jetstreamManager(nats.nc);
  await jsm.streams.delete(streams.ingest(chain));
  await ensureChainTopology(nats.nc, chain);
}

describe('ingest stream re-created under the chain', () => {
  it('a new stream shorter than the watermark is consumed from its start', async () => {
    const chain = 'recreated-short';
    await ensureChainTopology(nats.nc, chain);
    const first = makeEvents(0, 100, nodeSource(chain, 'node-1', 'a'));
    await publishEvents(nats.nc, chain, first, 10); // ingest 1..10: the watermark ends at 10
    await sealAll(chain, 100);
    await recreateIngest(chain);
    const second = makeEvents(1_000, 30, nodeSource(chain, 'node-1', 'a'));
    await publishEvents(nats.nc, chain, second, 10); // the new stream's 1..3
    await sealAll(chain, 130);
    const check = await checkChain(nats.nc, chain);
    expect(check.result.ok).toBe(true);
    expect(exactlyOnce(check.ids, [...first, ...second])).toEqual({ missing: [], doubled: [], unexpected: [] });
  });

  it('a new stream created after the tail was sealed is consumed from its start, even once longer than the watermark', async () => {
    const chain = 'recreated-long';
    await ensureChainTopology(nats.nc, chain);
    const first = makeEvents(0, 20, nodeSource(chain, 'node-1', 'a'));
    await publishEvents(nats.nc, chain, first, 10); // watermark at ingest 2
    // Sealed "two hours ago" (the sequencer's clock), so the new stream is younger than the tail.
    await sealAll(chain, 20, () => Date.now() - 2 * 3_600_000);
    await recreateIngest(chain);
    const second = makeEvents(1_000, 50, nodeSource(chain, 'node-1', 'a'));
    await publishEvents(nats.nc, chain, second, 10); // the new stream's 1..5: past the old watermark
    await sealAll(chain, 70);
    const check = await checkChain(nats.nc, chain);
    expect(check.result.ok).toBe(true);
    expect(exactlyOnce(check.ids, [...first, ...second])).toEqual({ missing: [], doubled: [], unexpected: [] });
  });
});

describe('a message of more events than any producer sends', () => {
  it('is decoded no further than one event past the cap and dead-lettered once, as TOO_MANY_EVENTS', async () => {
    const chain = 'too-many';
    await ensureChainTopology(nats.nc, chain);
    // version 1, then MAX + 1 empty events (each would be MISSING_PAYLOAD on its own).
    const n = MAX_EVENTS_PER_MESSAGE + 1;
    const body = new Uint8Array(2 + 2 * n);
    body.set([0x08, 0x01]);
    for (let i = 0; i < n; i++) body.set([0x12, 0x00], 2 + 2 * i);
    const seq = new Sequencer({ nc: nats.nc, chainId: chain, registry: new Registry(), takeoverGraceMs: 0 });
    await seq.start();
    try {
      await publishRaw(nats.nc, chain, body);
      const good = makeEvents(0, 5, nodeSource(chain, 'node-1', 'a'));
      await publishEvents(nats.nc, chain, good, 5);
      await waitFor(async () => (await checkChain(nats.nc, chain)).count >= 5, 30_000, 50, 'valid events after it');
      expect(await dlqCounts(nats.nc, chain)).toEqual({ TOO_MANY_EVENTS: 1 });
    } finally {
      await seq.stop();
    }
  });
});

describe('the chain tail check', () => {
  it('refuses a tail without Hwl-Hash / Hwl-Prev-Hash (not written by a sequencer), even when its bytes link', async () => {
    const chain = 'tail-no-hash';
    await ensureChainTopology(nats.nc, chain);
    await publishEvents(nats.nc, chain, makeEvents(0, 3, nodeSource(chain, 'node-1', 'a')), 3);
    await sealAll(chain, 3);
    const jsm = await jetstreamManager(nats.nc);
    const tail = await readChainTail(jsm, chain);
    // A correctly linked record with the watermark headers but no hash headers.
    const forged = sealEvent(makeEvents(100, 1, nodeSource(chain, 'node-1', 'a'))[0]!, { chainId: chain, sequence: tail.sequence + 1n, sealedAtMs: tail.sealedAtMs + 1n }, tail.hash);
    const h = new RawHeaders([
      [HEADERS.ingestSeq, '1'],
      [HEADERS.ingestIndex, '0'],
    ]).asMsgHdrs();
    nats.nc.publish(subjects.chain(chain, forged.record.kind, forged.record.tenant || '_'), forged.canonical, { headers: h });
    await nats.nc.flush();
    await waitFor(async () => (await jsm.streams.info(streams.chain(chain))).state.last_seq === 4, 5_000, 50, 'forged record');
    await expect(readChainTail(jsm, chain)).rejects.toMatchObject({ code: 'INTEGRITY', message: expect.stringMatching(/lacks its Hwl-Prev-Hash\/Hwl-Hash headers/) });
  });
});

describe('dead letters after a restart', () => {
  it('a rejected event dead-lettered again by the next session is stored and counted once', async () => {
    const chain = 'dlq-once';
    await ensureChainTopology(nats.nc, chain);
    // Only rejected input: nothing is sealed, so the watermark does not move and a new session sees it again.
    for (let i = 0; i < 3; i++) await publishRaw(nats.nc, chain, new Uint8Array([0x0f, i, 0xff]));
    const counted = async (registry: Registry): Promise<number> => {
      const m = (await registry.getSingleMetric('hwl_events_rejected_total')?.get())?.values ?? [];
      return m.reduce((a, v) => a + v.value, 0);
    };
    const r1 = new Registry();
    const s1 = new Sequencer({ nc: nats.nc, chainId: chain, registry: r1, takeoverGraceMs: 0 });
    await s1.start();
    await waitFor(async () => (await counted(r1)) >= 3, 30_000, 50, 'first dead letters');
    await s1.stop();
    const r2 = new Registry();
    const s2 = new Sequencer({ nc: nats.nc, chainId: chain, registry: r2, takeoverGraceMs: 0 });
    await s2.start();
    try {
      // The second session has handled the backlog once the next valid event is sealed behind it.
      await publishEvents(nats.nc, chain, makeEvents(0, 1, nodeSource(chain, 'node-1', 'a')), 1);
      await waitFor(async () => (await checkChain(nats.nc, chain)).count >= 1, 30_000, 50, 'valid event after the backlog');
      expect(await counted(r2)).toBe(0);
      expect(await dlqCounts(nats.nc, chain)).toEqual({ MALFORMED_PROTOBUF: 3 });
    } finally {
      await s2.stop();
    }
  });

  it('a re-created ingest stream refilled past the watermark within a minute is recognised by its content: its rejection is counted, its valid event sealed', async () => {
    const chain = 'dlq-epoch';
    await ensureChainTopology(nats.nc, chain);
    const counted = async (registry: Registry): Promise<number> => {
      const m = (await registry.getSingleMetric('hwl_events_rejected_total')?.get())?.values ?? [];
      return m.reduce((a, v) => a + v.value, 0);
    };
    const run = async (bad: Uint8Array, valid: number): Promise<number> => {
      await publishRaw(nats.nc, chain, bad); // ingest position 1 of the current stream
      const r = new Registry();
      const s = new Sequencer({ nc: nats.nc, chainId: chain, registry: r, takeoverGraceMs: 0 });
      await s.start();
      try {
        await publishEvents(nats.nc, chain, makeEvents(valid, 1, nodeSource(chain, 'node-1', 'a')), 1);
        await waitFor(async () => (await checkChain(nats.nc, chain)).count >= valid + 1, 30_000, 50, 'valid event after the rejection');
        return await counted(r);
      } finally {
        await s.stop();
      }
    };
    expect(await run(new Uint8Array([0x0f, 1, 0xff]), 0)).toBe(1);
    await recreateIngest(chain);
    expect(await run(new Uint8Array([0x0f, 2, 0xff]), 1)).toBe(1);
    expect(await dlqCounts(nats.nc, chain)).toEqual({ MALFORMED_PROTOBUF: 2 });
  });
});
