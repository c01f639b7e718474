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
import { Sequencer } from '@hwledger/sequencer';
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

  // A record as an earlier version sealed it: ingest message 1, index 0, with that version's headers.
  async function sealAsBefore(chain: string, a: ReturnType<typeof makeEvent>, msgId: (key: string, hashHex: string) => string): Promise<void> {
    const sealed = sealEvent(a, { chainId: chain, sequence: 1n, sealedAtMs: BigInt(Date.now()) }, genesisHash(chain));
    const hashHex = toHex(sealed.hash);
    const h = headers();
    h.set(HEADERS.msgId, msgId(recordMsgId(a.source, a.eventId), hashHex));
    h.set('Nats-Expected-Stream', `HWL_CHAIN_${chain}`);
    h.set('Nats-Expected-Last-Sequence', '0');
    h.set(HEADERS.prevHash, toHex(genesisHash(chain)));
    h.set(HEADERS.hash, hashHex);
    h.set(HEADERS.ingestSeq, '1');
    h.set(HEADERS.ingestIndex, '0');
    h.set(HEADERS.ingestCount, '1');
    await jetstream(nats.nc).publish(subjects.chain(chain, a.kind, a.tenant), sealed.canonical, { headers: h });
  }

  const b64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64url');
  for (const [form, msgId] of [
    ['sealed on 2026-12-07, with 55-character base64url ids', (key: string, hashHex: string) => `${b64(key)}.${b64(hashHex.slice(0, 32))}`],
    ['sealed before 2026-12-07, with hex ids', (key: string, hashHex: string) => `${key}.${hashHex.slice(0, 32)}`], // 81 characters
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
});
