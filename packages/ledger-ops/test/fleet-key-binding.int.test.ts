/**
 * Cross-region forgery under a fleet anchor (real nats-server). Two regions,
 * each with its own checkpoint key. The holder of us-1's private key appends
 * to eu-1's checkpoint log a checkpoint of `hwledger/eu-1` that extends eu-1's
 * real one with records of its own making, signed with the us-1 key. With
 * each key bound to its region (the fleet configuration):
 * - verifyCheckpointLog of eu-1 names it (bad_signature);
 * - the fleet anchorer refuses to anchor it;
 * - verifyFleet names a fleet entry holding it;
 * and with unbound keys over several regions the anchorer and verifyFleet
 * refuse to run (CONFIG) rather than accept any key for any region. The
 * legitimate fleet (anchored, verified, regions' chains reproduced) passes.
 */
import { describe, expect, it } from 'vitest';
import { headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { MemoryMerkleTree, generateSigner, signCheckpoint, utf8Encode, verifierOf, type NoteSigner, type NoteVerifier } from '@hwledger/chain';
import { useNatsServer } from '@hwledger/testkit';
import { CheckpointLog, checkpointStatus, FleetAnchorer, fleetNames, formatFleetEntry, parseFleetEntry, readStream, verifyCheckpointLog, verifyFleet, verifyGitReplica } from '@hwledger/ledger-ops';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'fleet-key-binding-test' });
const EU = 'kb-eu';
const US = 'kb-us';
const euKey = generateSigner('hwl-eu');
const usKey = generateSigner('hwl-us');
const bind = (s: NoteSigner, ...chains: string[]): NoteVerifier => ({ ...verifierOf(s), chains });
const bound = [bind(euKey, EU), bind(usKey, US)];
const unbound = [verifierOf(euKey), verifierOf(usKey)];
const FLEET = 'kb';

const codeOf = async (f: () => unknown): Promise<string | undefined> => {
  try {
    await f();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe('fleet: region keys bound to their regions', () => {
  it('anchors and verifies the legitimate fleet with bound keys; keys bound to the wrong regions verify neither', async () => {
    const eu = await ChainWriter.open(nats.nc, EU);
    const us = await ChainWriter.open(nats.nc, US);
    await eu.append(300);
    await checkpointWriter(nats.nc, eu, euKey, 100);
    await us.append(200);
    await checkpointWriter(nats.nc, us, usKey, 100);
    const anchorer = new FleetAnchorer({ nc: nats.nc, fleet: FLEET, chains: [EU, US], trusted: bound });
    await anchorer.load();
    expect(await anchorer.tick()).toBe(2);
    const r = await verifyFleet(nats.nc, FLEET, bound);
    expect(r.issue).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(Object.fromEntries(r.chains.map((c) => [c.chainId, c.live?.result.ok]))).toEqual({ [EU]: true, [US]: true });
    // A key bound to a region other than the one it signs does not verify that region.
    const crossed = await verifyFleet(nats.nc, FLEET, [bind(euKey, US), bind(usKey, EU)], { live: false });
    expect(crossed.issue).toMatchObject({ index: 1n, reason: 'bad_signature' });
  });

  it('refuses unbound keys over several regions, and a region with no key', async () => {
    const loose = new FleetAnchorer({ nc: nats.nc, fleet: FLEET, chains: [EU, US], trusted: unbound });
    expect(await codeOf(() => loose.load())).toBe('CONFIG');
    expect(await codeOf(() => loose.tick())).toBe('CONFIG');
    await expect(loose.load()).rejects.toThrow(/bound to the chain\(s\) it signs for.*hwl-eu, hwl-us are not/);
    expect(await codeOf(() => new FleetAnchorer({ nc: nats.nc, fleet: FLEET, chains: [EU, US], trusted: [bind(euKey, EU)] }).load())).toBe('CONFIG');
    expect(await codeOf(() => verifyFleet(nats.nc, FLEET, unbound))).toBe('CONFIG');
    // One chain: an unbound key is still accepted (single-chain use as before).
    const single = new FleetAnchorer({ nc: nats.nc, fleet: 'kb-single', chains: [EU], trusted: [verifierOf(euKey)] });
    await single.load();
    expect(await single.tick()).toBe(1);
    expect((await verifyFleet(nats.nc, 'kb-single', [verifierOf(euKey)], { live: false })).ok).toBe(true);
  });

  it('refuses eu checkpoints signed with the us key: checkpoint log, anchoring, fleet verification', async () => {
    // The forger (holding us's key) extends eu's real checkpoint with records of its own making.
    const log = await CheckpointLog.open(nats.nc, EU);
    const latest = (await log.latest())!;
    const t = new MemoryMerkleTree({ size: latest.checkpoint.sequence, nodes: latest.compact });
    let head = latest.checkpoint.headHash;
    for (let i = 0; i < 50; i++) {
      head = new Uint8Array(32).fill(i + 1);
      t.append(head);
    }
    const signed = signCheckpoint({ chainId: EU, sequence: t.size, headHash: head, rootHash: t.root(), timeMs: 1n }, [usKey]);
    await log.append({ signed, compact: t.compactRange(), prevSize: latest.checkpoint.sequence, consistency: t.consistencyProof(latest.checkpoint.sequence) }, latest.streamSeq);

    // The forgery is consistent with eu's log: only its signer's binding gives it away.
    expect((await verifyCheckpointLog(log, [bind(euKey, EU), bind(usKey, EU)])).issues).toEqual([]);
    const rep = await verifyCheckpointLog(log, bound);
    expect(rep.issues[0]).toMatchObject({ size: t.size, reason: 'bad_signature' });
    expect(rep.issues[0]!.message).toMatch(/hwl-us \(trusted for kb-us\), not for this origin/);

    const anchorer = new FleetAnchorer({ nc: nats.nc, fleet: FLEET, chains: [EU, US], trusted: bound });
    await anchorer.load();
    await expect(anchorer.tick()).rejects.toThrow(/checkpoint of kb-eu at 350 is not signed by a trusted key/);

    // An entry holding it (appended by an anchorer that trusted any key for any region) is named.
    let lastSeq = 0;
    let lastHash: Uint8Array = new Uint8Array(32);
    for await (const m of readStream(nats.nc, fleetNames.stream(FLEET))) {
      lastSeq = m.seq;
      lastHash = parseFleetEntry(m.data).hash;
    }
    const entry = formatFleetEntry({ fleet: FLEET, index: BigInt(lastSeq + 1), prev: lastHash, chainId: EU, note: signed.note });
    await jetstream(nats.nc).publish(fleetNames.subject(FLEET), utf8Encode(entry), { headers: headers(), expect: { lastSequence: lastSeq } });
    const r = await verifyFleet(nats.nc, FLEET, bound);
    expect(r.ok).toBe(false);
    expect(r.issue).toMatchObject({ index: BigInt(lastSeq + 1), reason: 'bad_signature' });
    expect(r.issue!.message).toMatch(/no signature by a trusted key for origin hwledger\/kb-eu/);
    expect(await codeOf(() => verifyFleet(nats.nc, FLEET, unbound))).toBe('CONFIG');
  });
});

describe('key bindings elsewhere', () => {
  it('checkpoint status: one key bound to several chains is valid for each of them, unknown for a chain it is not bound to', async () => {
    const chain = 'kb-status';
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(50);
    await checkpointWriter(nats.nc, w, euKey, 25);
    const shared = [bind(euKey, 'other-chain'), bind(euKey, chain)];
    const st = await checkpointStatus(nats.nc, chain, shared);
    expect(st.latest?.signatures.map((x) => x.valid)).toEqual([true]);
    const elsewhere = await checkpointStatus(nats.nc, chain, [bind(euKey, 'other-chain')]);
    expect(elsewhere.latest?.signatures.map((x) => x.valid)).toEqual([null]);
  });

  it('verify --git: a replica folder with only checkpoints still counts as a chain (unbound keys refused across two)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hwl-kb-replica-'));
    try {
      mkdirSync(join(dir, 'eu-west-1', 'segments'), { recursive: true });
      mkdirSync(join(dir, 'us-east-1', 'checkpoints'), { recursive: true });
      expect(await codeOf(() => verifyGitReplica(dir, { trusted: [verifierOf(euKey)] }))).toBe('CONFIG');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
