/**
 * The two ways a record is sealed, interleaved in one session, with and
 * without the addon's fast path (native transcoder and sealLink, or
 * HWL_NATIVE_INGEST=0: the TypeScript fast path and encodeRecordHeaders):
 * plain messages take the fast path; a message with a non-ASCII (valid)
 * string, or with an event already on the chain, goes the reference way. The
 * Nats-Expected-Last-Msg-Id fence links each record to the previous one
 * whichever path wrote either, so a mistake in handing it over would stop
 * the sequencer (FENCED) instead of sealing. Each chain verifies from genesis,
 * every accepted event is sealed once, the duplicate is dead-lettered, and
 * every record's headers are the ones docs/sequencer.md lists, with values
 * recomputed here from its body.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureChainTopology, HEADERS, recordMsgId } from '@hwledger/core';
import { encodeIngestBatch } from '@hwledger/proto';
import { decodeRecord, type ChainEvent } from '@hwledger/chain';
import { readChain } from '@hwledger/sequencer';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { checkChain, dlqCounts, exactlyOnce, makeEvent, makeEvents, nodeSource, publishEvents, publishRaw } from './helpers.js';
import { startSequencer, type SequencerProcess } from './processes.js';

describe.each([
  ['the addon', '1'],
  ['TypeScript only (HWL_NATIVE_INGEST=0)', '0'],
])('sealing paths interleaved, %s', (_name, nativeIngest) => {
  const chain = `paths${nativeIngest}`;
  const nats = useNatsServer();
  let seq: SequencerProcess;

  beforeAll(async () => {
    await ensureChainTopology(nats.nc, chain);
    seq = startSequencer(nats.url, chain, ['--takeover-grace-ms', '0'], { HWL_NATIVE_INGEST: nativeIngest });
  });

  afterAll(async () => {
    await seq?.term();
  });

  it('seals fast and reference records in turn into one verifiable chain, each with its fence', async () => {
    const unicode = (i: number): ChainEvent => ({ ...makeEvent(50_000 + i, nodeSource(chain, 'node-2', 'nöde-ü')), eventId: `é-${i}` });
    const sealed: ChainEvent[] = [];
    const plain = (from: number, n: number): Promise<number> => {
      const evs = makeEvents(from, n, nodeSource(chain, 'node-1', 'plain'));
      sealed.push(...evs);
      return publishEvents(nats.nc, chain, evs, 10, 'node-1', `p${from}-`);
    };
    await plain(0, 30); // fast
    for (let i = 0; i < 3; i++) {
      const evs = [makeEvent(1_000 + i, nodeSource(chain, 'node-2', 'mixed')), unicode(i), makeEvent(2_000 + i, nodeSource(chain, 'node-2', 'mixed'))];
      sealed.push(...evs);
      await publishRaw(nats.nc, chain, encodeIngestBatch(evs), 'node-2'); // reference path (non-ASCII)
      await plain(100 * (i + 1), 20); // fast again
    }
    // An event already on the chain (node-1 sends it again), between two new ones: the whole message goes the reference way.
    const fresh = [makeEvent(3_000, nodeSource(chain, 'node-1', 'dup')), makeEvent(3_001, nodeSource(chain, 'node-1', 'dup'))];
    sealed.push(...fresh);
    await publishRaw(nats.nc, chain, encodeIngestBatch([fresh[0]!, sealed[5]!, fresh[1]!]), 'node-1');
    await plain(900, 25);
    await publishRaw(nats.nc, chain, encodeIngestBatch([unicode(9)]), 'node-2');
    sealed.push(unicode(9));

    const check = await waitFor(async () => {
      const c = await checkChain(nats.nc, chain);
      return c.count >= sealed.length ? c : undefined;
    }, 60_000, 200, `${sealed.length} records`);
    expect(check.result.ok).toBe(true);
    expect(check.count).toBe(sealed.length);
    expect(exactlyOnce(check.ids, sealed)).toEqual({ missing: [], doubled: [], unexpected: [] });
    expect(await dlqCounts(nats.nc, chain)).toEqual({ duplicate_event: 1 });

    let prevId: string | undefined;
    let n = 0;
    for await (const e of readChain(nats.nc, chain)) {
      const r = decodeRecord(e.canonical);
      const h = e.headers!;
      // Hwl-Hash was checked against the recomputed hash by checkChain.
      // The id's form (chain-msg-id.ts), with node:buffer's base64url as the oracle.
      const b64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64url');
      const id = b64(recordMsgId(r.source, r.eventId).slice(0, 32) + h.get(HEADERS.hash).slice(0, 16));
      expect(h.get(HEADERS.msgId)).toBe(id);
      expect(h.get('Nats-Expected-Stream')).toBe(`HWL_CHAIN_${chain}`);
      expect(h.get('Nats-Expected-Last-Sequence')).toBe(String(e.sequence - 1n));
      // Within one session every record after the first names the one before it.
      if (prevId !== undefined) expect(h.get('Nats-Expected-Last-Msg-Id')).toBe(prevId);
      else expect(h.get('Nats-Expected-Last-Msg-Id')).toBe('');
      expect(h.get(HEADERS.ingest)).toMatch(/^[1-9][0-9]*\.(0|[1-9][0-9]*)\.[1-9][0-9]*$/);
      for (const old of [HEADERS.ingestSeq, HEADERS.ingestIndex, HEADERS.ingestCount]) expect(h.has(old)).toBe(false);
      prevId = id;
      n++;
    }
    expect(n).toBe(sealed.length);
    expect(seq.proc.exitCode).toBeNull();
    // The variant ran the path it names (the process says which at start).
    expect(seq.logs()).toContain(`"fastPath":"${nativeIngest === '1' ? 'addon' : 'typescript'}"`);
  });
});
