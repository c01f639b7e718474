/**
 * `verify --key` of the live chain (verifyLiveFromAnchor) started at the
 * archive anchor in KV and never read the records before it, even while
 * the chain stream still holds them. `archive --keep` (and any cut not yet
 * purged because the projector is behind it) leaves exactly that state: the
 * anchor has moved, records 1..cut are still in the stream and are still
 * going to be read by the projector. A storage provider that rewrites one of
 * those records (here: the stream recreated with record 100 altered, every
 * other body as before) was not noticed (found in a review). Now the records
 * the stream still holds up to the anchor are verified and must hash to it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { headers } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord, generateSigner, genesisHash, verifierOf, type ChainRecord } from '@hwledger/chain';
import { ensureChainTopology, streams } from '@hwledger/core';
import { readChain } from '@hwledger/sequencer';
import { useNatsServer } from '@hwledger/testkit';
import { archiveChain, loadArchiveAnchor, verifyLiveFromAnchor } from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'live-before-anchor' });
const chain = 'pre-anchor';
const key = generateSigner('hwl-pre-anchor');
const keys = [verifierOf(key)];
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hwl-pre-anchor-'));
  const w = await ChainWriter.open(nats.nc, chain);
  await w.append(1_500);
  await checkpointWriter(nats.nc, w, key, 500);
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Recreates the chain stream with the same bodies and headers, except record `seq`'s body, altered. */
async function rewriteStreamAltering(seq: bigint): Promise<void> {
  const kept: { subject: string; data: Uint8Array; hdrs: [string, string][] }[] = [];
  for await (const e of readChain(nats.nc, chain, { fromSeq: 1n })) {
    const hdrs: [string, string][] = [];
    for (const [k, v] of e.headers ?? []) for (const x of v) hdrs.push([k, x]);
    let data = e.canonical;
    if (e.sequence === seq) {
      const r = decodeRecord(e.canonical) as ChainRecord & { data: { total_tokens: number } };
      r.data.total_tokens += 1_000_000;
      data = encodeRecord(r);
    }
    kept.push({ subject: e.subject, data, hdrs });
  }
  const jsm = await jetstreamManager(nats.nc);
  await jsm.streams.delete(streams.chain(chain));
  await ensureChainTopology(nats.nc, chain);
  const js = jetstream(nats.nc);
  for (const m of kept) {
    const h = headers();
    for (const [k, v] of m.hdrs) if (k !== 'Nats-Msg-Id' && k !== 'Nats-Expected-Last-Sequence') h.append(k, v);
    await js.publish(m.subject, m.data, { headers: h });
  }
}

describe('live verification with records before the archive anchor still in the stream', () => {
  it('an altered record before the anchor fails verification', async () => {
    // Archive up to 1000, keep the stream (the --keep run; also any cut the projector has not passed).
    await archiveChain({ nc: nats.nc, chainId: chain, dir: join(work, 'archive'), olderThanMs: 0, upto: 1_000n, trusted: keys, keep: true });
    expect((await loadArchiveAnchor(nats.nc, chain, keys))?.sequence).toBe(1_000n);
    const before = await verifyLiveFromAnchor(nats.nc, chain, { trusted: keys });
    expect(before.result.ok).toBe(true);

    await rewriteStreamAltering(100n);
    const info = await (await jetstreamManager(nats.nc)).streams.info(streams.chain(chain));
    expect(info.state.first_seq).toBe(1); // record 100 is in the stream, and the projector reads it from there
    expect(info.state.last_seq).toBe(1_500);

    // The same check from genesis (what verify --key does without an anchor) sees it.
    const fromGenesis = await verifyLiveFromAnchor(nats.nc, chain, { trusted: keys, anchor: { chainId: chain, sequence: 0n, hash: genesisHash(chain), compact: [] } });
    expect(fromGenesis.result).toMatchObject({ ok: false, sequence: 100n });

    // verify --key (default anchor: the archive anchor in KV) must not pass it either.
    const live = await verifyLiveFromAnchor(nats.nc, chain, { trusted: keys });
    expect(live.result).toMatchObject({ ok: false, sequence: 100n, reason: 'hash_mismatch', message: expect.stringMatching(/held before the archive anchor at 1000/) });
  }, 120_000);
});
