/**
 * Per-region chains under a fleet anchor: the anchorer records each region's
 * newest signed checkpoint in a hash-linked log; verifyFleet checks the links,
 * the signatures and every region chain against its anchored checkpoints; a
 * region checkpoint from an untrusted key or another history is refused, and
 * an edited fleet entry or region record is named.
 */
import { describe, expect, it } from 'vitest';
import { headers } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { MemoryMerkleTree, generateSigner, signCheckpoint, utf8Encode, verifierOf } from '@hwledger/chain';
import { useNatsServer } from '@hwledger/testkit';
import { CheckpointLog, FleetAnchorer, fleetGenesisHash, fleetNames, formatFleetEntry, parseFleetEntry, readStream, verifyFleet } from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'fleet-test' });
const eu = generateSigner('hwl-eu');
const us = generateSigner('hwl-us');
// Each region's key is bound to its chain (an unbound key is refused across several chains).
const keys = [{ ...verifierOf(eu), chains: ['eu-1'] }, { ...verifierOf(us), chains: ['us-1'] }];

describe('fleet anchor', () => {
  const writers: Record<string, ChainWriter> = {};

  it('anchors two regions round after round and verifies every region against it', async () => {
    writers['eu-1'] = await ChainWriter.open(nats.nc, 'eu-1');
    writers['us-1'] = await ChainWriter.open(nats.nc, 'us-1');
    const anchorer = new FleetAnchorer({ nc: nats.nc, fleet: 'f1', chains: ['eu-1', 'us-1'], trusted: keys });
    await anchorer.load();
    for (let round = 0; round < 3; round++) {
      await writers['eu-1'].append(400);
      await checkpointWriter(nats.nc, writers['eu-1'], eu, 250);
      if (round !== 1) {
        await writers['us-1'].append(300);
        await checkpointWriter(nats.nc, writers['us-1'], us, 250);
      }
      await anchorer.tick();
    }
    expect(anchorer.appended).toBe(5);
    expect(await anchorer.tick()).toBe(0); // nothing moved
    const r = await verifyFleet(nats.nc, 'f1', keys);
    expect(r.issue).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.entries).toBe(5);
    const byChain = Object.fromEntries(r.chains.map((c) => [c.chainId, c]));
    expect(byChain['eu-1']!.anchored).toBe(3);
    expect(byChain['eu-1']!.live?.result).toMatchObject({ ok: true, verified: 1_200 });
    expect(byChain['us-1']!.anchored).toBe(2);
    expect(byChain['us-1']!.live?.result).toMatchObject({ ok: true, verified: 600 });
    // Entries are hash-linked in order: each names the previous one's hash.
    let prev = fleetGenesisHash('f1');
    for await (const m of readStream(nats.nc, fleetNames.stream('f1'))) {
      const e = parseFleetEntry(m.data);
      expect(e.prev).toEqual(prev);
      prev = e.hash;
    }
    // A second anchorer resumes where the stream is.
    const again = new FleetAnchorer({ nc: nats.nc, fleet: 'f1', chains: ['eu-1', 'us-1'], trusted: keys });
    await again.load();
    expect(await again.tick()).toBe(0);
  });

  it('refuses to anchor a region checkpoint signed by an unknown key', async () => {
    const w = writers['us-1']!;
    await w.append(10);
    const log = await CheckpointLog.open(nats.nc, 'us-1');
    const latest = (await log.latest())!;
    const t = new MemoryMerkleTree({ size: latest.checkpoint.sequence, nodes: latest.compact });
    for (const h of w.hashes.slice(Number(latest.checkpoint.sequence))) t.append(h);
    const signed = signCheckpoint({ chainId: 'us-1', sequence: t.size, headHash: w.head, rootHash: t.root(), timeMs: 1n }, [generateSigner('mallory')]);
    await log.append({ signed, compact: t.compactRange(), prevSize: latest.checkpoint.sequence, consistency: t.consistencyProof(latest.checkpoint.sequence) }, latest.streamSeq);
    const anchorer = new FleetAnchorer({ nc: nats.nc, fleet: 'f1', chains: ['us-1'], trusted: keys });
    await anchorer.load();
    await expect(anchorer.tick()).rejects.toThrow(/not signed by a trusted key/);
    const r = await verifyFleet(nats.nc, 'f1', keys);
    expect(r.ok).toBe(false);
    expect(r.chains.find((c) => c.chainId === 'us-1')?.logIssue).toMatch(/no signature by a trusted key/);
  });

  it('names a fleet entry whose bytes were replaced (broken hash link)', async () => {
    // Build a separate fleet whose second entry does not link to the first.
    const fleet = 'f2';
    const a = new FleetAnchorer({ nc: nats.nc, fleet, chains: ['eu-1'], trusted: keys });
    await a.load();
    await a.tick();
    const eulog = await CheckpointLog.open(nats.nc, 'eu-1');
    const note = (await eulog.latest())!.note;
    const forged = formatFleetEntry({ fleet, index: 2n, prev: new Uint8Array(32), chainId: 'eu-1', note });
    await jetstream(nats.nc).publish(fleetNames.subject(fleet), utf8Encode(forged), { headers: headers() });
    const r = await verifyFleet(nats.nc, fleet, keys, { live: false });
    expect(r.issue).toMatchObject({ index: 2n, reason: 'broken_link' });
    expect(r.ok).toBe(false);
    await expect(new FleetAnchorer({ nc: nats.nc, fleet, chains: ['eu-1'], trusted: keys }).load()).rejects.toThrow(/does not link/);
  });

  it('names a region record edited under the fleet anchor', async () => {
    const jsm = await jetstreamManager(nats.nc);
    // Rewrite eu-1 with another history of the same length: its checkpoints no longer match.
    await jsm.streams.delete('HWL_CHAIN_eu-1');
    const w = await ChainWriter.open(nats.nc, 'eu-1');
    await w.append(1_200);
    const r = await verifyFleet(nats.nc, 'f1', keys);
    const euReport = r.chains.find((c) => c.chainId === 'eu-1')!;
    expect(r.ok).toBe(false);
    expect(euReport.live?.result).toMatchObject({ ok: false, reason: 'checkpoint_mismatch', sequence: 250n });
  });
});
