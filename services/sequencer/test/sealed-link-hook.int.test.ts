/**
 * onSealedLink: the allocation-free hook the Checkpointer uses. It sees every
 * record once, in sequence order, with hashes that chain from genesis and
 * match the stored records; and it cannot be combined with onSealed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { chainHash, genesisHash, hashFromHex, toHex } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { Sequencer, readChain, type SealedLink } from '@hwledger/sequencer';
import { Registry } from 'prom-client';
import { chainHead, makeEvents, nodeSource, publishEvents } from './helpers.js';

const CHAIN = 'linkhook';
const N = 5_000;

describe('sequencer onSealedLink hook', () => {
  const nats = useNatsServer();
  let seq: Sequencer | undefined;

  afterAll(async () => {
    await seq?.stop();
  });

  it('refuses onSealed and onSealedLink together', () => {
    const both = () => new Sequencer({ nc: nats.nc, chainId: CHAIN, registry: new Registry(), onSealed: () => undefined, onSealedLink: () => undefined });
    expect(both).toThrow(HwlError);
    expect(both).toThrow(/not both/);
  });

  it('sees every record once, in order, with the stored hashes, also while a returned promise holds it back', async () => {
    const seen: { sequence: bigint; hash: string; prevHash: string }[] = [];
    let slowUntil = 1_000;
    seq = new Sequencer({
      nc: nats.nc,
      chainId: CHAIN,
      registry: new Registry(),
      takeoverGraceMs: 0,
      onSealedLink: (s: SealedLink) => {
        seen.push({ sequence: s.sequence, hash: toHex(s.hash), prevHash: toHex(s.prevHash) });
        // For the first records the hook is async: later calls queue behind it and must keep their own hashes.
        if (seen.length < slowUntil) return new Promise((r) => setTimeout(r, 0));
        return undefined;
      },
    });
    await seq.start();
    await publishEvents(nats.nc, CHAIN, makeEvents(0, 1_000, nodeSource(CHAIN)), 1);
    await publishEvents(nats.nc, CHAIN, makeEvents(1_000, N - 1_000, nodeSource(CHAIN)), 100);
    await waitFor(async () => (await chainHead(nats.nc, CHAIN)) >= N, 60_000, 100, `${N} records`);
    await waitFor(() => seen.length >= N, 30_000, 50, 'onSealedLink calls');
    slowUntil = 0;

    expect(seen.length).toBe(N);
    expect(seen.map((s) => s.sequence)).toEqual(Array.from({ length: N }, (_, i) => BigInt(i + 1)));
    expect(seen[0]!.prevHash).toBe(toHex(genesisHash(CHAIN)));
    for (let i = 1; i < N; i++) expect(seen[i]!.prevHash, `record ${i + 1}`).toBe(seen[i - 1]!.hash);
    let i = 0;
    for await (const e of readChain(nats.nc, CHAIN, { fromSeq: 1n, toSeq: BigInt(N) })) {
      // The stored record's own hash (recomputed from its bytes), not a header claim.
      expect(toHex(chainHash(hashFromHex(seen[i]!.prevHash), e.canonical)), `record ${e.sequence}`).toBe(seen[i]!.hash);
      i++;
    }
    expect(i).toBe(N);
  });
});
