/**
 * Sequences past 2^53. The sequencer tracks ingest sequences and chain
 * sequences as exact numbers (JetStream's API gives stream sequences as JSON
 * numbers, which nats.js reads as doubles), so on either limit it stops for
 * good with FAILED_PRECONDITION, saying what to do, and seals, dead-letters
 * and acks nothing more, rather than take one message or record for another
 * or retry forever.
 * - An ingest stream past 2^53 (purged or created there): nothing sealed, the
 *   ingest message kept.
 * - A chain at record 2^53 - 1, reached by purging an empty chain stream up
 *   to it and storing there a valid tail record (its predecessor gone, as
 *   after archiving). nats-server 2.9.10 refuses every
 *   Nats-Expected-Last-Sequence after such a purge ("wrong last sequence:
 *   1"), so the records just below the limit cannot be sealed here.
 */
import { describe, expect, it } from 'vitest';
import { headers } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { sealEvent, toHex } from '@hwledger/chain';
import { ensureChainTopology, HEADERS, streams, subjects } from '@hwledger/core';
import { useNatsServer } from '@hwledger/testkit';
import { Sequencer } from '@hwledger/sequencer';
import { makeEvents, nodeSource, publishEvents } from './helpers.js';

const INGEST_CHAIN = 'seq-limit';
const LIMIT_CHAIN = 'chain-limit';
const TAIL = Number.MAX_SAFE_INTEGER; // 2^53 - 1

describe('sequences past 2^53', () => {
  const nats = useNatsServer();

  it('an ingest stream past 2^53 stops the sequencer for good (FAILED_PRECONDITION) with nothing sealed and the ingest message kept', async () => {
    const jsm = await ensureChainTopology(nats.nc, INGEST_CHAIN);
    // A purge up to a sequence moves an empty stream's next sequence there (nats-server 2.9 has no first_seq).
    await jsm.streams.purge(streams.ingest(INGEST_CHAIN), { seq: 2 ** 53 + 4 });
    await publishEvents(nats.nc, INGEST_CHAIN, makeEvents(0, 3, nodeSource(INGEST_CHAIN)), 3);
    expect((await jsm.streams.info(streams.ingest(INGEST_CHAIN))).state.first_seq).toBeGreaterThan(Number.MAX_SAFE_INTEGER);
    const seq = new Sequencer({ nc: nats.nc, chainId: INGEST_CHAIN, registry: new Registry(), takeoverGraceMs: 0 });
    await seq.start();
    const outcome = await Promise.race([seq.done.then(() => 'resolved', (e: unknown) => e), new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
    await seq.stop();
    expect(outcome).toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/past sequence 2\^53.*recreate the ingest stream/) });
    const after = await jetstreamManager(nats.nc);
    expect((await after.streams.info(streams.chain(INGEST_CHAIN))).state.messages).toBe(0);
    expect((await after.streams.info(streams.ingest(INGEST_CHAIN))).state.messages).toBe(1);
  });

  it('a chain at record 2^53 - 1 stops the sequencer for good (FAILED_PRECONDITION) before record 2^53, with nothing sealed, dead-lettered or acked', async () => {
    const jsm = await ensureChainTopology(nats.nc, LIMIT_CHAIN);
    // Ingest message 1 holds the tail record's event (the tail's watermark points at it).
    const events = makeEvents(0, 3, nodeSource(LIMIT_CHAIN));
    await publishEvents(nats.nc, LIMIT_CHAIN, events.slice(0, 1), 1);
    // An empty stream purged up to a sequence stores its next message there.
    await jsm.streams.purge(streams.chain(LIMIT_CHAIN), { seq: TAIL });
    const prev = new Uint8Array(32).fill(7);
    const tail = sealEvent(events[0]!, { chainId: LIMIT_CHAIN, sequence: BigInt(TAIL), sealedAtMs: BigInt(Date.now()) }, prev);
    const h = headers();
    h.set(HEADERS.msgId, 'seeded-tail');
    h.set(HEADERS.prevHash, toHex(prev));
    h.set(HEADERS.hash, toHex(tail.hash));
    h.set(HEADERS.ingestSeq, '1');
    h.set(HEADERS.ingestIndex, '0');
    h.set(HEADERS.ingestCount, '1');
    const ack = await jetstream(nats.nc).publish(subjects.chain(LIMIT_CHAIN, events[0]!.kind, events[0]!.tenant || '_'), tail.canonical, { headers: h });
    expect(ack.seq).toBe(TAIL);
    await publishEvents(nats.nc, LIMIT_CHAIN, events.slice(1), 1);

    const seq = new Sequencer({ nc: nats.nc, chainId: LIMIT_CHAIN, registry: new Registry(), takeoverGraceMs: 0 });
    await seq.start();
    const outcome = await Promise.race([seq.done.then(() => 'resolved', (e: unknown) => e), new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
    await seq.stop();
    expect(outcome).toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/reached record 9007199254740991 \(2\^53 - 1\).*new chain id/) });

    const after = await jetstreamManager(nats.nc);
    const chain = await after.streams.info(streams.chain(LIMIT_CHAIN));
    expect(chain.state.last_seq).toBe(TAIL);
    expect(chain.state.messages).toBe(1);
    expect((await after.streams.info(streams.dlq(LIMIT_CHAIN))).state.messages).toBe(0);
    // Both later events are still on ingest (nothing was acked past the tail's).
    expect((await after.streams.info(streams.ingest(LIMIT_CHAIN))).state.messages).toBeGreaterThanOrEqual(2);
  });
});
