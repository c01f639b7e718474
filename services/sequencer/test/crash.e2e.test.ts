/**
 * kill -9 of `hwledger sequencer` processes at random moments during a run,
 * restarted each time: the chain verifies, every event is sealed exactly
 * once, no gap. Also the precise crash window "record stored, ingest message
 * not yet acked", followed by a restart after the chain's duplicate window
 * has expired, so JetStream's Nats-Msg-Id dedup cannot hide a re-seal: only
 * the ingest watermark prevents it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { ensureChainTopology, streams } from '@hwledger/core';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { readChain, watermarkFromHeaders } from '@hwledger/sequencer';
import { chainHead, checkChain, dlqCounts, exactlyOnce, ingestConsumer, makeEvents, nodeSource, publishEvents, sleep } from './helpers.js';
import { prng, startSequencer, type SequencerProcess } from './processes.js';

const FAST_LEASE = ['--lease-ttl-ms', '1500', '--takeover-grace-ms', '100'];

/** Waits until `p` holds the lease (its log says so): it then handles SIGTERM as a clean stop. */
const leads = (p: SequencerProcess): Promise<true> => waitFor(() => p.logs().includes('acquired the lease: leader') || undefined, 30_000, 50, 'the last sequencer leads');

describe('sequencer crashes', () => {
  const nats = useNatsServer();
  const procs: SequencerProcess[] = [];

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill9()));
  });

  it('survives kill -9 at random moments, restarted each time', async () => {
    const CHAIN = 'crashy';
    await ensureChainTopology(nats.nc, CHAIN);
    const events = makeEvents(0, 30_000, nodeSource(CHAIN));
    let published = false;
    const publishing = (async () => {
      for (let i = 0; i < events.length; i += 1_500) {
        await publishEvents(nats.nc, CHAIN, events.slice(i, i + 1_500), 1 + (i % 40));
        // Spread over several seconds, so that most kills land while there is something to seal.
        await sleep(400);
      }
      published = true;
    })();
    const rnd = prng(20261122);
    let kills = 0;
    let killedWhileSealing = 0;
    for (let round = 0; round < 7; round++) {
      const p = startSequencer(nats.url, CHAIN, FAST_LEASE);
      procs.push(p);
      const before = await chainHead(nats.nc, CHAIN);
      if (round % 3 === 2) {
        // Some kills land early: while starting, standing by or taking over.
        await sleep(100 + rnd() * 800);
      } else {
        // Most land mid-sealing, at a random point after progress resumed.
        // (Once every event is published and sealed there is nothing left to resume: the kill then lands while idle.)
        await waitFor(
          async () => {
            const head = await chainHead(nats.nc, CHAIN);
            return head > before || (published && head >= events.length) || p.proc.exitCode !== null;
          },
          30_000,
          20,
          'sealing to resume',
        );
        await sleep(rnd() * 400);
      }
      if ((await chainHead(nats.nc, CHAIN)) > before) killedWhileSealing++;
      await p.kill9();
      kills++;
    }
    await publishing;
    const last = startSequencer(nats.url, CHAIN, FAST_LEASE);
    procs.push(last);
    await waitFor(async () => (await chainHead(nats.nc, CHAIN)) >= events.length, 90_000, 100, `all ${events.length} events sealed`);
    await leads(last);
    await sleep(500);
    const ended = await last.term();
    expect(ended.code, `exit signal ${ended.signal}; last log lines:\n${last.logs().slice(-4_000)}`).toBe(0);

    expect(kills).toBe(7);
    expect(killedWhileSealing).toBeGreaterThanOrEqual(3);
    const check = await checkChain(nats.nc, CHAIN);
    expect(check.result.ok).toBe(true);
    expect(check.count).toBe(events.length);
    expect(exactlyOnce(check.ids, events)).toEqual({ missing: [], doubled: [], unexpected: [] });
  });

  it('a crash after the record is stored but before the ingest ack, redelivered after the duplicate window, is not sealed twice', async () => {
    const CHAIN = 'crashack';
    // A 1 s chain duplicate window: JetStream's own dedup forgets quickly.
    await ensureChainTopology(nats.nc, CHAIN, { chainDuplicateWindowMs: 1_000 });
    // Enough events for both crash points whatever each crashed process left in flight: a process
    // counts its own PubAcks, and up to a window (1,024) of its appends can still land after its
    // crash. With 3,000, a first crash at 777 could leave fewer than 1,234 records for the second
    // process, which then never reached its crash point (the test hung under load).
    const events = makeEvents(100_000, 5_000, nodeSource(CHAIN));
    await publishEvents(nats.nc, CHAIN, events, 10);
    for (const crashAt of [777, 1_234]) {
      const p = startSequencer(nats.url, CHAIN, FAST_LEASE, { HWL_FAULT_CRASH_AFTER_SEAL: String(crashAt) });
      procs.push(p);
      const exit = await p.exited;
      expect(exit.signal).toBe('SIGKILL');
      // The crash window was hit: the ingest message of the last record is not acked.
      const head = await chainHead(nats.nc, CHAIN);
      let lastIngestSeq = 0;
      for await (const e of readChain(nats.nc, CHAIN, { fromSeq: BigInt(head), toSeq: BigInt(head), headersOnly: true })) {
        lastIngestSeq = watermarkFromHeaders(e.headers)?.ingestSeq ?? 0;
      }
      const ci = await ingestConsumer(nats.nc, CHAIN);
      expect(ci.ack_floor.stream_seq).toBeLessThan(lastIngestSeq);
      // Let the chain's duplicate window (1 s) and the lease (1.5 s) expire.
      await sleep(1_700);
    }
    const last = startSequencer(nats.url, CHAIN, FAST_LEASE);
    procs.push(last);
    await waitFor(async () => (await chainHead(nats.nc, CHAIN)) >= events.length, 60_000, 100, 'all events sealed');
    // The chain may be complete before the last process even started (the crashed ones stored
    // their whole window): wait until it leads and has handled (acked) every ingest message,
    // the redelivered ones included, before looking for a re-seal.
    await leads(last);
    const ingestLast = (await (await jetstreamManager(nats.nc)).streams.info(streams.ingest(CHAIN))).state.last_seq;
    await waitFor(async () => (await ingestConsumer(nats.nc, CHAIN)).ack_floor.stream_seq >= ingestLast, 30_000, 100, 'every ingest message acked');
    await sleep(1_200); // a re-seal of a redelivered message would appear now
    const ended = await last.term();
    expect(ended.code, `exit signal ${ended.signal}; last log lines:\n${last.logs().slice(-4_000)}`).toBe(0);
    const check = await checkChain(nats.nc, CHAIN);
    expect(check.result.ok).toBe(true);
    expect(check.count).toBe(events.length);
    expect(exactlyOnce(check.ids, events)).toEqual({ missing: [], doubled: [], unexpected: [] });
    // The redelivered events were skipped by the watermark, not caught late as
    // duplicates: nothing was dead-lettered.
    expect(await dlqCounts(nats.nc, CHAIN)).toEqual({});
  });
});
