/**
 * A chain whose tail mixes the earlier id forms (hex, 55-char base64url,
 * each with the three-header watermark) followed by records of this version:
 * takeover, then a restart refills the recent-id set from all of them.
 */
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { ensureChainTopology, HEADERS, recordMsgId, subjects } from '@hwledger/core';
import { genesisHash, sealEvent, toHex } from '@hwledger/chain';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { Sequencer, readChain } from '@hwledger/sequencer';
import { checkChain, dlqCounts, exactlyOnce, makeEvent, nodeSource, publishEvents, sleep } from './helpers.js';

const nats = useNatsServer();
const b64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64url');

async function sealWith(chainId: string, until: number, run: () => Promise<void> = async () => undefined): Promise<void> {
  const seq = new Sequencer({ nc: nats.nc, registry: new Registry(), chainId, takeoverGraceMs: 0 });
  await seq.start();
  try {
    await run();
    await waitFor(async () => (await checkChain(nats.nc, chainId)).count >= until, 20_000, 50, `${until} records`);
    await sleep(300);
  } finally {
    await seq.stop();
  }
}

describe('mixed-form tail', () => {
  it('hex, 55-char, then 32-char records: takeover and refill', async () => {
    const chain = 'mixed';
    await ensureChainTopology(nats.nc, chain);
    const source = nodeSource(chain, 'node-1');
    const [a, b, c, d] = [1, 2, 3, 4].map((i) => makeEvent(i, source));
    await publishEvents(nats.nc, chain, [a!], 1, 'node-1', 'one');
    await publishEvents(nats.nc, chain, [b!], 1, 'node-1', 'two');
    let prev = genesisHash(chain);
    const forms = [(k: string, h: string) => `${k}.${h.slice(0, 32)}`, (k: string, h: string) => `${b64(k)}.${b64(h.slice(0, 32))}`];
    for (const [i, e] of [a!, b!].entries()) {
      const sealed = sealEvent(e, { chainId: chain, sequence: BigInt(i + 1), sealedAtMs: BigInt(Date.now()) }, prev);
      const hx = toHex(sealed.hash);
      const h = headers();
      h.set(HEADERS.msgId, forms[i]!(recordMsgId(e.source, e.eventId), hx));
      h.set('Nats-Expected-Stream', `HWL_CHAIN_${chain}`);
      h.set('Nats-Expected-Last-Sequence', String(i));
      h.set(HEADERS.prevHash, toHex(prev));
      h.set(HEADERS.hash, hx);
      h.set(HEADERS.ingestSeq, String(i + 1));
      h.set(HEADERS.ingestIndex, '0');
      h.set(HEADERS.ingestCount, '1');
      await jetstream(nats.nc).publish(subjects.chain(chain, e.kind, e.tenant), sealed.canonical, { headers: h });
      prev = sealed.hash;
    }
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
