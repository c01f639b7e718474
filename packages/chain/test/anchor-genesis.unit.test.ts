/**
 * The anchor at sequence 0 is genesis by definition (spec: "Hash chain":
 * genesis is the anchor (chain_id, 0, SHA-256("hwledger/genesis/v1/" +
 * chain_id))). An anchor that claims sequence 0 with any other hash cannot
 * be trusted: a chain built on it (record 1 linking to a made-up "genesis")
 * must fail at sequence 1, never verify "from genesis".
 */
import { describe, expect, it } from 'vitest';
import { ChainVerifier, genesisHash, sha256, verifyEntriesSync, type Anchor } from '@hwledger/chain';
import { buildChain, exportInput } from './support/chain-builder.js';

const CHAIN = 'eu-test-1';

describe('an anchor at sequence 0', () => {
  const fakeGenesis = sha256(new TextEncoder().encode('not the genesis of eu-test-1'));
  const forged = buildChain(20, CHAIN, 1, fakeGenesis);
  const fake: Anchor = { chainId: CHAIN, sequence: 0n, hash: fakeGenesis };

  it('that is not the genesis hash fails at sequence 1 as anchor_mismatch', () => {
    const r = verifyEntriesSync(forged.map(exportInput), fake);
    expect(r).toMatchObject({ ok: false, sequence: 1n, reason: 'anchor_mismatch', verified: 0 });
  });

  it('that is not the genesis hash fails even with no record to verify', () => {
    expect(new ChainVerifier(fake).result()).toMatchObject({ ok: false, sequence: 1n, reason: 'anchor_mismatch' });
  });

  it('that is the genesis hash, written out, verifies the real chain', () => {
    const real = buildChain(20, CHAIN);
    const r = verifyEntriesSync(real.map(exportInput), { chainId: CHAIN, sequence: 0n, hash: genesisHash(CHAIN) });
    expect(r).toMatchObject({ ok: true, verified: 20 });
  });
});
