/**
 * The fleet anchorer must add a region checkpoint only if it is
 * consistent with the one it anchored before (docs/proofs.md "Per-region
 * chains under a fleet anchor"). It remembered only the anchored tree *size*
 * per region (found in a review), so:
 * - a region whose checkpoint log was replaced by another history (same
 *   checkpoint sizes, different roots, all signed by the region's key) is
 *   anchored on as if it extended the anchored checkpoint: the fleet anchor
 *   then holds a fork of the region, which verifyFleet itself calls an
 *   anchor issue;
 * - a region whose log now ends below the anchored size (went backwards) is
 *   skipped silently, round after round, instead of being refused.
 * Now it keeps the anchored checkpoint (size, head, root) and refuses both
 * with INTEGRITY. Real nats-server, real FleetAnchorer and verifyFleet.
 */
import { describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { MemoryMerkleTree, generateSigner, signCheckpoint, verifierOf, type NoteSigner } from '@hwledger/chain';
import { useNatsServer } from '@hwledger/testkit';
import { CheckpointLog, FleetAnchorer, verifyFleet } from '@hwledger/ledger-ops';
import { ChainWriter } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'fleet-fork' });
const euKey = generateSigner('hwl-eu');
const usKey = generateSigner('hwl-us');

/** Appends signed checkpoints of `w`'s records at `sizes` to the chain's checkpoint log (empty log). */
async function logCheckpoints(nc: NatsConnection, w: ChainWriter, signer: NoteSigner, sizes: number[]): Promise<void> {
  const log = await CheckpointLog.open(nc, w.chainId);
  const t = new MemoryMerkleTree();
  let prevSize = 0n;
  let last = await log.lastStreamSeq();
  for (const size of sizes) {
    while (t.size < BigInt(size)) t.append(w.hashes[Number(t.size)]!);
    const signed = signCheckpoint({ chainId: w.chainId, sequence: t.size, headHash: w.hashes[size - 1]!, rootHash: t.root(), timeMs: BigInt(Date.now()) }, [signer]);
    last = await log.append({ signed, compact: t.compactRange(), prevSize, consistency: prevSize === 0n ? [] : t.consistencyProof(prevSize) }, last);
    prevSize = t.size;
  }
  log.close();
}

/** Replaces a region's chain and checkpoint log with another history (what a rewritten or re-sealed region looks like). */
async function replaceRegion(nc: NatsConnection, chainId: string, records: number, sizes: number[], signer: NoteSigner): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(`HWL_CHAIN_${chainId}`);
  await jsm.streams.delete(`HWL_CKPT_${chainId}`);
  const w = await ChainWriter.open(nc, chainId);
  await w.append(records, undefined, 50_000); // other events: another history
  await logCheckpoints(nc, w, signer, sizes);
}

describe('fleet anchorer: a region must extend what was anchored', () => {
  it('refuses a region whose log was replaced by another history with the same checkpoint sizes', async () => {
    const EU = 'fk-eu';
    const US = 'fk-us';
    const keys = [{ ...verifierOf(euKey), chains: [EU] }, { ...verifierOf(usKey), chains: [US] }];
    const eu = await ChainWriter.open(nats.nc, EU);
    const us = await ChainWriter.open(nats.nc, US);
    await eu.append(300);
    await logCheckpoints(nats.nc, eu, euKey, [100, 200, 300]);
    await us.append(100);
    await logCheckpoints(nats.nc, us, usKey, [100]);
    const anchorer = new FleetAnchorer({ nc: nats.nc, fleet: 'fk1', chains: [EU, US], trusted: keys });
    await anchorer.load();
    expect(await anchorer.tick()).toBe(2);
    expect((await verifyFleet(nats.nc, 'fk1', keys)).ok).toBe(true);

    // eu's region is replaced: another history, checkpoints at 100..400, signed with eu's own key.
    await replaceRegion(nats.nc, EU, 400, [100, 200, 300, 400], euKey);
    // The checkpoint at 400 does not extend the anchored one at 300 (another root at 300): refused.
    await expect(anchorer.tick()).rejects.toMatchObject({ code: 'INTEGRITY' });
    // Nor after a restart (the anchorer reloads what it anchored from the fleet stream).
    const restarted = new FleetAnchorer({ nc: nats.nc, fleet: 'fk1', chains: [EU, US], trusted: keys });
    await restarted.load();
    await expect(restarted.tick()).rejects.toMatchObject({ code: 'INTEGRITY' });
  });

  it('refuses (does not silently skip) a region whose log now ends below the anchored checkpoint', async () => {
    const EU = 'bk-eu';
    const keys = [{ ...verifierOf(euKey), chains: [EU] }];
    const eu = await ChainWriter.open(nats.nc, EU);
    await eu.append(300);
    await logCheckpoints(nats.nc, eu, euKey, [100, 200, 300]);
    const anchorer = new FleetAnchorer({ nc: nats.nc, fleet: 'bk1', chains: [EU], trusted: keys });
    await anchorer.load();
    expect(await anchorer.tick()).toBe(1);
    // The region went back to 200 records under another history.
    await replaceRegion(nats.nc, EU, 200, [100, 200], euKey);
    await expect(anchorer.tick()).rejects.toMatchObject({ code: 'INTEGRITY' });
  });
});
