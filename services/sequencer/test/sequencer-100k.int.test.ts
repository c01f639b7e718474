/**
 * 100k events through a real nats-server: the chain verifies from genesis
 * (hashes and header claims), every accepted event is sealed exactly once,
 * no gap, and the records carry the spec's subjects and headers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { decodeRecord, chainHash, genesisHash, toHex } from '@hwledger/chain';
import { HEADERS, recordMsgId, streams } from '@hwledger/core';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { Sequencer, chainMsgId, readChain, type SealedRecord } from '@hwledger/sequencer';
import { Registry } from 'prom-client';
import { chainHead, checkChain, exactlyOnce, ingestConsumer, makeEvents, nodeSource, publishEvents } from './helpers.js';

const N = Number(process.env['HWL_TEST_SEAL_EVENTS'] ?? 100_000);
const CHAIN = 'seq100k';

describe(`sequencer: ${N} events`, () => {
  const nats = useNatsServer();
  let seq: Sequencer;
  const sealed: SealedRecord[] = [];
  const registry = new Registry();

  beforeAll(async () => {
    // rotateMs: sessions end cleanly and purge the handled ingest prefix after 1 s.
    seq = new Sequencer({ nc: nats.nc, chainId: CHAIN, registry, takeoverGraceMs: 0, rotateMs: 1_000, onSealed: (s) => void sealed.push(s) });
    await seq.start();
  });

  afterAll(async () => {
    await seq?.stop();
  });

  it('seals every event exactly once into a chain that verifies', async () => {
    // Mostly batched (100 events per ingest message) plus some single-event messages.
    const singles = makeEvents(0, 1_000, nodeSource(CHAIN));
    const batched = makeEvents(1_000, N - 1_000, nodeSource(CHAIN));
    await publishEvents(nats.nc, CHAIN, singles, 1);
    await publishEvents(nats.nc, CHAIN, batched, 100);
    await waitFor(async () => (await chainHead(nats.nc, CHAIN)) >= N, 120_000, 200, `${N} records`);
    await waitFor(() => sealed.length >= N, 10_000, 50, 'onSealed calls');

    const check = await checkChain(nats.nc, CHAIN);
    expect(check.result.ok).toBe(true);
    expect(check.count).toBe(N);
    const once = exactlyOnce(check.ids, [...singles, ...batched]);
    expect(once).toEqual({ missing: [], doubled: [], unexpected: [] });
    // Sealed in ingest order.
    expect(check.ids.slice(0, 3)).toEqual(singles.slice(0, 3).map((e) => `${e.source}\n${e.eventId}`));

    // The onSealed hook saw every record, in order, with the right hashes.
    expect(sealed.map((s) => s.sequence)).toEqual(Array.from({ length: N }, (_, i) => BigInt(i + 1)));
    expect(toHex(sealed[0]!.prevHash)).toBe(toHex(genesisHash(CHAIN)));
    expect(toHex(sealed[0]!.hash)).toBe(toHex(chainHash(genesisHash(CHAIN), sealed[0]!.canonical)));
    for (let i = 1; i < 50; i++) expect(toHex(sealed[i]!.prevHash)).toBe(toHex(sealed[i - 1]!.hash));

    // Ingest acknowledged: nothing pending on the consumer, and the handled
    // prefix is purged when the session rotates (at most the message holding
    // the watermark stays).
    await waitFor(async () => (await ingestConsumer(nats.nc, CHAIN)).num_ack_pending === 0, 10_000, 100, 'acks');
    const jsm = await jetstreamManager(nats.nc);
    await waitFor(async () => (await jsm.streams.info(streams.ingest(CHAIN))).state.messages <= 1, 15_000, 100, 'ingest purge');

    const metrics = await registry.getSingleMetricAsString('hwl_records_sealed_total');
    expect(metrics).toContain('kind="inference_request_completed"');
    expect(await registry.getSingleMetricAsString('hwl_chain_head_sequence')).toContain(` ${N}`);
  });

  it('writes the spec subjects and headers', async () => {
    let n = 0;
    for await (const e of readChain(nats.nc, CHAIN, { fromSeq: 1n, toSeq: 12n })) {
      const r = decodeRecord(e.canonical);
      expect(r.sequence).toBe(e.sequence);
      expect(e.subject).toBe(`hwl.chain.${CHAIN}.${r.kind}.${r.tenant === '' ? '_' : r.tenant}`);
      expect(e.headers?.get(HEADERS.prevHash)).toMatch(/^[0-9a-f]{64}$/);
      expect(e.headers?.get(HEADERS.hash)).toMatch(/^[0-9a-f]{64}$/);
      // Nats-Msg-Id: the event key (derived from source and event_id) + the record's hash prefix.
      expect(e.headers?.get(HEADERS.msgId)).toBe(chainMsgId(recordMsgId(r.source, r.eventId), e.headers!.get(HEADERS.hash)));
      expect(e.headers?.get(HEADERS.ingest)).toBe(`${n + 1}.0.1`); // the first 1,000 messages carry one event each
      n++;
    }
    expect(n).toBe(12);
  });
});
