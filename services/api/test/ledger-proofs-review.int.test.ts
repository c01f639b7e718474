/**
 * The API's checkpoints, proofs and fleet anchor (ledger-proofs.ts), with the
 * real LedgerProofs against a real nats-server; two defects found in a review:
 *
 * 1. GetFleetStatus keeps a per-fleet view between requests and says "a
 *    stream recreated under the same name starts over", but it only noticed a
 *    recreated stream that is *shorter* than the last one it read (now: by
 *    the stream's creation time). A fleet
 *    anchor deleted and recreated that has grown back to as many entries is
 *    never read: the API goes on answering the old stream's regions and head.
 *
 * 2. The API serves every chain with one key set (--checkpoint-key) and takes
 *    several unbound keys without complaint, so the holder of one region's key
 *    gets an inclusion proof of another region's chain served as verified
 *    (cross-region forgery, docs/proofs.md "Keys are bound to chains": every
 *    other place that verifies several chains with one key set refuses
 *    unbound keys). Now the API refuses them too (CONFIG).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { MemoryMerkleTree, generateSigner, signCheckpoint, verifierOf, type NoteSigner } from '@hwledger/chain';
import { silentLogger } from '@hwledger/core';
import { useNatsServer } from '@hwledger/testkit';
import { CheckpointLog, FleetAnchorer } from '@hwledger/ledger-ops';
import { LedgerProofs, type Caller } from '@hwledger/api';
import { ChainWriter } from '../../../packages/ledger-ops/test/chain-fixture.js';

const nats = useNatsServer({ clientName: 'ledger-proofs-review' });
const dir = mkdtempSync(join(tmpdir(), 'hwl-lp-review-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const operator: Caller = { keyId: 'ops', role: 'operator' };

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

describe('GetFleetStatus after the fleet anchor stream was recreated', () => {
  it('answers the new stream, not the regions and head of the deleted one', async () => {
    const key = generateSigner('hwl-fs');
    const A = 'fs-a';
    const B = 'fs-b';
    const C = 'fs-c';
    const keys = [{ ...verifierOf(key), chains: [A, B, C] }];
    for (const chain of [A, B, C]) {
      const w = await ChainWriter.open(nats.nc, chain);
      await w.append(20);
      await logCheckpoints(nats.nc, w, key, [10]);
    }
    const first = new FleetAnchorer({ nc: nats.nc, fleet: 'fs', chains: [A, B], trusted: keys });
    await first.load();
    expect(await first.tick()).toBe(2);
    const proofs = new LedgerProofs({ nc: nats.nc, chainId: A, treeDir: join(dir, 'm1'), trusted: keys, fleet: 'fs', logger: silentLogger() });
    const before = await proofs.getFleetStatus(operator, { fleet: '' });
    expect(before.regions.map((r) => r.chainId)).toEqual([A, B]);

    // The fleet anchor is deleted and recreated; it anchors C (entry 1).
    await (await jetstreamManager(nats.nc)).streams.delete('HWL_FLEET_fs');
    const second = new FleetAnchorer({ nc: nats.nc, fleet: 'fs', chains: [C], trusted: keys });
    await second.load();
    expect(await second.tick()).toBe(1);
    const log = await CheckpointLog.open(nats.nc, C);
    const latest = (await log.latest())!;
    log.close();
    expect(latest.checkpoint.sequence).toBe(10n);
    // C's log grows to 20 (its real records), and the new fleet anchor takes it: 2 entries, as many as the old one had.
    const jsm = await jetstreamManager(nats.nc);
    const hashes: Uint8Array[] = [];
    for (let s = 1; s <= 20; s++) {
      const m = await jsm.streams.getMessage('HWL_CHAIN_fs-c', { seq: s });
      hashes.push(Uint8Array.from(Buffer.from(m!.header.get('Hwl-Hash'), 'hex')));
    }
    const t = new MemoryMerkleTree();
    for (const h of hashes) t.append(h);
    const signed = signCheckpoint({ chainId: C, sequence: 20n, headHash: hashes[19]!, rootHash: t.root(), timeMs: BigInt(Date.now()) }, [key]);
    const log2 = await CheckpointLog.open(nats.nc, C);
    await log2.append({ signed, compact: t.compactRange(), prevSize: 10n, consistency: t.consistencyProof(10n) }, latest.streamSeq);
    log2.close();
    expect(await second.tick()).toBe(1);

    const after = await proofs.getFleetStatus(operator, { fleet: '' });
    expect(after.entries).toBe(2n);
    expect(after.regions.map((r) => r.chainId)).toEqual([C]);
    expect(after.regions[0]!.sequence).toBe(20n);
    // A fresh API (no cached view) answers the same.
    const fresh = new LedgerProofs({ nc: nats.nc, chainId: A, treeDir: join(dir, 'm2'), trusted: keys, fleet: 'fs', logger: silentLogger() });
    expect(after).toEqual(await fresh.getFleetStatus(operator, { fleet: '' }));
  });
});

describe('the API with several unbound checkpoint keys', () => {
  it('does not serve a proof of one region signed with another region\'s key as verified', async () => {
    const eu = generateSigner('hwl-eu');
    const us = generateSigner('hwl-us');
    const EU = 'ub-eu';
    const w = await ChainWriter.open(nats.nc, EU);
    await w.append(40);
    // eu's checkpoint log holds a checkpoint of hwledger/ub-eu signed by us's key only.
    await logCheckpoints(nats.nc, w, us, [40]);
    let code: string | undefined;
    let verifiedBy: string[] | undefined;
    try {
      const proofs = new LedgerProofs({ nc: nats.nc, chainId: EU, treeDir: join(dir, 'm3'), trusted: [verifierOf(eu), verifierOf(us)], logger: silentLogger() });
      const r = await proofs.getInclusionProof(operator, { chainId: EU, sequence: 7n, checkpointSize: 0n });
      verifiedBy = r.verifiedBy;
    } catch (e) {
      code = (e as { code?: string }).code;
    }
    // Refused: at setup (CONFIG, unbound keys over several chains) or as a checkpoint its keys cannot vouch for.
    expect({ code, verifiedBy }).toMatchObject({ code: expect.stringMatching(/^(CONFIG|INTEGRITY)$/) });
  });
});
