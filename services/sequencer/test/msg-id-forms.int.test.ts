/**
 * A restarted sequencer refills its recent-id set from the Nats-Msg-Id of the
 * chain's last records (sequencer.ts warmRecent), so a repeat of an event
 * sealed by an earlier process is dead-lettered as duplicate_event instead
 * of being sealed again. Chain record ids are 32 base64url characters since
 * late on 2026-12-07 (chain-msg-id.ts): 16 bytes of the event key and 8 of the hash.
 * A chain sealed before holds ids of 55 characters (base64url, 2026-12-07)
 * or 81 (hex), with the watermark in three headers, and a sequencer taking
 * it over must read those too. Real nats-server, in-process sequencers.
 */
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { ensureChainTopology, HEADERS, recordMsgId, subjects } from '@hwledger/core';
import { genesisHash, sealEvent, toHex } from '@hwledger/chain';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { readChain, Sequencer } from '@hwledger/sequencer';
import { checkChain, dlqCounts, exactlyOnce, makeEvent, nodeSource, publishEvents, sleep } from './helpers.js';

const nats = useNatsServer();

async function sealWith(chainId: string, until: number, run: () => Promise<void> = async () => undefined): Promise<void> {
  const seq = new Sequencer({ nc: nats.nc, registry: new Registry(), chainId, takeoverGraceMs: 0 });
  await seq.start();
  try {
    await run();
    await waitFor(async () => (await checkChain(nats.nc, chainId)).count >= until, 20_000, 50, `${until} records`);
    await sleep(300); // a second record of the repeat would show by now
  } finally {
    await seq.stop();
  }
}

describe('a restarted sequencer catches repeats of events sealed by an earlier process', () => {
  it('from a tail with 32-character ids (this version)', async () => {
    const chain = 'ids-b64';
    await ensureChainTopology(nats.nc, chain);
    const source = nodeSource(chain, 'node-1');
    const a = makeEvent(1, source);
    const b = makeEvent(2, source);
    await publishEvents(nats.nc, chain, [a], 1, 'node-1', 'first');
    await sealWith(chain, 1);
    const tail = [];
    for await (const m of await (await jetstream(nats.nc).consumers.get(`HWL_CHAIN_${chain}`)).fetch({ max_messages: 1 })) tail.push(m.headers?.get(HEADERS.msgId));
    expect(tail[0]).toMatch(/^[A-Za-z0-9_-]{32}$/);

    // A second process: the repeat of `a` arrives in a new ingest message (another Nats-Msg-Id, so the ingest stream keeps it).
    await sealWith(chain, 2, () => publishEvents(nats.nc, chain, [a, b], 2, 'node-1', 'again').then(() => undefined));
    const check = await checkChain(nats.nc, chain);
    expect(check.result.ok).toBe(true);
    expect(exactlyOnce(check.ids, [a, b])).toEqual({ missing: [], doubled: [], unexpected: [] });
    expect(await dlqCounts(nats.nc, chain)).toEqual({ duplicate_event: 1 });
  }, 60_000);

  // A record as an earlier version sealed it, with that version's headers: record `sequence`
  // after `prev`, from ingest message `sequence`, index 0. Returns its hash.
  async function sealAsBefore(
    chain: string,
    e: ReturnType<typeof makeEvent>,
    msgId: (key: string, hashHex: string) => string,
    sequence = 1n,
    prev = genesisHash(chain),
  ): Promise<Uint8Array> {
    const sealed = sealEvent(e, { chainId: chain, sequence, sealedAtMs: BigInt(Date.now()) }, prev);
    const hashHex = toHex(sealed.hash);
    const h = headers();
    h.set(HEADERS.msgId, msgId(recordMsgId(e.source, e.eventId), hashHex));
    h.set('Nats-Expected-Stream', `HWL_CHAIN_${chain}`);
    h.set('Nats-Expected-Last-Sequence', String(sequence - 1n));
    h.set(HEADERS.prevHash, toHex(prev));
    h.set(HEADERS.hash, hashHex);
    h.set(HEADERS.ingestSeq, String(sequence));
    h.set(HEADERS.ingestIndex, '0');
    h.set(HEADERS.ingestCount, '1');
    await jetstream(nats.nc).publish(subjects.chain(chain, e.kind, e.tenant), sealed.canonical, { headers: h });
    return sealed.hash;
  }

  const b64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64url');
  const b64Id = (key: string, hashHex: string): string => `${b64(key)}.${b64(hashHex.slice(0, 32))}`; // 55 characters
  const hexId = (key: string, hashHex: string): string => `${key}.${hashHex.slice(0, 32)}`; // 81 characters
  for (const [form, msgId] of [
    ['sealed on 2026-12-07, with 55-character base64url ids', b64Id],
    ['sealed before 2026-12-07, with hex ids', hexId],
  ] as const) {
    it(`from a tail ${form}`, async () => {
      const chain = form.includes('hex') ? 'ids-hex' : 'ids-b64-55';
      await ensureChainTopology(nats.nc, chain);
      const source = nodeSource(chain, 'node-1');
      const a = makeEvent(1, source);
      const b = makeEvent(2, source);
      // Ingest message 1 holds `a`; record 1 is `a` as the earlier version sealed it.
      await publishEvents(nats.nc, chain, [a], 1, 'node-1', 'first');
      await sealAsBefore(chain, a, msgId);

      await sealWith(chain, 2, () => publishEvents(nats.nc, chain, [a, b], 2, 'node-1', 'again').then(() => undefined));
      const check = await checkChain(nats.nc, chain);
      expect(check.result.ok).toBe(true);
      expect(exactlyOnce(check.ids, [a, b])).toEqual({ missing: [], doubled: [], unexpected: [] });
      expect(await dlqCounts(nats.nc, chain)).toEqual({ duplicate_event: 1 });
    }, 60_000);
  }

  // A tail mixing the earlier forms (hex, then 55-character base64url, each with the three-header
  // watermark) followed by records of this version: takeover, then a restart refills from all of them.
  it('from a tail of hex, 55-character and 32-character ids', async () => {
    const chain = 'mixed';
    await ensureChainTopology(nats.nc, chain);
    const source = nodeSource(chain, 'node-1');
    const [a, b, c, d] = [1, 2, 3, 4].map((i) => makeEvent(i, source));
    await publishEvents(nats.nc, chain, [a!], 1, 'node-1', 'one');
    await publishEvents(nats.nc, chain, [b!], 1, 'node-1', 'two');
    const first = await sealAsBefore(chain, a!, hexId);
    await sealAsBefore(chain, b!, b64Id, 2n, first);
    // Takeover from an old-form tail; seals c in this version's form.
    await sealWith(chain, 3, () => publishEvents(nats.nc, chain, [c!], 1, 'node-1', 'three').then(() => undefined));
    const hs: (string | undefined)[][] = [];
    for await (const e of readChain(nats.nc, chain, { fromSeq: 1n, toSeq: 3n, headersOnly: true })) hs.push([e.headers?.get(HEADERS.msgId), e.headers?.get(HEADERS.ingest)]);
    expect(hs[2]![0]).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(hs[2]![1]).toBe('3.0.1');
    // Restart: repeats of a, b, c in one new message, plus d.
    await sealWith(chain, 4, () => publishEvents(nats.nc, chain, [a!, b!, c!, d!], 4, 'node-1', 'again').then(() => undefined));
    const check = await checkChain(nats.nc, chain);
    expect(check.result.ok).toBe(true);
    expect(exactlyOnce(check.ids, [a!, b!, c!, d!])).toEqual({ missing: [], doubled: [], unexpected: [] });
    expect(await dlqCounts(nats.nc, chain)).toEqual({ duplicate_event: 3 });
  }, 90_000);
});
