/**
 * Truncation (threat: a storage operator, or an accident, drops the newest
 * records of a chain — or the whole stream — after they were checkpointed;
 * the shortened chain is still internally consistent, so only the signed
 * checkpoints beyond its end give it away). A trusted checkpoint whose tree
 * size is beyond what the verified source holds must be a failure
 * (`truncated`), never "not covered yet": for the live chain stream, under
 * the fleet anchor, and for a git replica whose last segments were deleted
 * while its checkpoint notes were kept. The untruncated sources still pass.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { generateSigner, verifierOf, type NoteSigner } from '@hwledger/chain';
import { ensureChainTopology, streams } from '@hwledger/core';
import { useNatsServer } from '@hwledger/testkit';
import { CheckpointLog, FleetAnchorer, kvKeys, readStream, replicateToGit, verifyFleet, verifyGitReplica, verifyLiveFromAnchor, type StreamMsg } from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'truncation-test' });
let work: string;
const key = generateSigner('hwl-trunc');
const keys = [verifierOf(key)];
// A fleet of several regions: each region's key bound to its chain.
const euKey = generateSigner('hwl-trunc-eu');
const usKey = generateSigner('hwl-trunc-us');
const fleetKeys = [
  { ...verifierOf(euKey), chains: ['tf-eu'] },
  { ...verifierOf(usKey), chains: ['tf-us'] },
];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hwl-trunc-'));
});

afterAll(async () => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** `n` records sealed and checkpointed every `every` (and at the end). */
async function build(chain: string, n: number, every: number, signer: NoteSigner = key): Promise<ChainWriter> {
  const w = await ChainWriter.open(nats.nc, chain);
  await w.append(n);
  await checkpointWriter(nats.nc, w, signer, every);
  return w;
}

async function saveStream(name: string): Promise<StreamMsg[]> {
  const out: StreamMsg[] = [];
  for await (const m of readStream(nats.nc, name)) out.push(m);
  return out;
}

/** Republishes stored messages onto a fresh stream, as they were (the broker's own Nats-* headers left out). */
async function republish(msgs: readonly StreamMsg[]): Promise<void> {
  const js = jetstream(nats.nc);
  for (const m of msgs) {
    const h = natsHeaders();
    for (const k of m.headers?.keys() ?? []) if (!/^nats-/i.test(k)) h.set(k, m.headers!.get(k));
    await js.publish(m.subject, m.data, { headers: h });
  }
}

/**
 * Replaces the chain stream by one holding only its first `keep` records
 * (byte-identical, same headers): what losing the newest records, or
 * recreating the stream empty (keep = 0), leaves behind.
 */
async function truncateChain(chain: string, keep: number): Promise<void> {
  const msgs = await saveStream(streams.chain(chain));
  const jsm = await jetstreamManager(nats.nc);
  await jsm.streams.delete(streams.chain(chain));
  await ensureChainTopology(nats.nc, chain);
  await republish(msgs.slice(0, keep));
}

describe('live chain stream', () => {
  it('passes when the stream holds every signed checkpoint', async () => {
    await build('tr-ok', 1_000, 500);
    const r = await verifyLiveFromAnchor(nats.nc, 'tr-ok', { trusted: keys });
    expect(r.result).toMatchObject({ ok: true, verified: 1_000, checkpointsChecked: 2 });
  });

  it('fails `truncated` when the stream lost records 901..1000 after the checkpoint at 1000 was signed', async () => {
    await build('tr-tail', 1_000, 500);
    await truncateChain('tr-tail', 900);
    const r = await verifyLiveFromAnchor(nats.nc, 'tr-tail', { trusted: keys });
    expect(r.head).toBe(900n);
    expect(r.result).toMatchObject({ ok: false, reason: 'truncated', sequence: 901n });
    expect(!r.result.ok && r.result.message).toMatch(/hwledger\/tr-tail at 1000 is signed, the chain stream ends at 900/);
    // Without keys (signatures not checked) the shortened chain is not accepted either.
    expect((await verifyLiveFromAnchor(nats.nc, 'tr-tail')).result).toMatchObject({ ok: false, reason: 'truncated' });
  });

  it('fails `truncated` when the stream was recreated empty (not "0 records verified")', async () => {
    await build('tr-empty', 1_000, 500);
    await truncateChain('tr-empty', 0);
    const r = await verifyLiveFromAnchor(nats.nc, 'tr-empty', { trusted: keys });
    expect(r.result).toMatchObject({ ok: false, reason: 'truncated', sequence: 1n });
    expect(!r.result.ok && r.result.message).toMatch(/at 1000 is signed, the chain stream ends at 0/);
  });

  it('fails `truncated` when the stream is gone while its checkpoint log exists', async () => {
    await build('tr-gone', 1_000, 500);
    await (await jetstreamManager(nats.nc)).streams.delete(streams.chain('tr-gone'));
    const r = await verifyLiveFromAnchor(nats.nc, 'tr-gone', { trusted: keys });
    expect(r.result).toMatchObject({ ok: false, reason: 'truncated', sequence: 1n });
    expect(!r.result.ok && r.result.message).toMatch(/HWL_CHAIN_tr-gone does not exist/);
    // Verified from an (archive) anchor at the last checkpoint: nothing beyond it is signed, the anchor still fails it.
    const last = (await (await CheckpointLog.open(nats.nc, 'tr-gone')).latest())!;
    const anchor = { chainId: 'tr-gone', sequence: last.checkpoint.sequence, hash: last.checkpoint.headHash, compact: last.compact, note: last.note };
    const a = await verifyLiveFromAnchor(nats.nc, 'tr-gone', { anchor, trusted: keys });
    expect(a.result).toMatchObject({ ok: false, reason: 'anchor_mismatch', sequence: 1_001n });
    // A chain nobody ever checkpointed and that has no stream is still just "not found".
    await expect(verifyLiveFromAnchor(nats.nc, 'tr-never', { trusted: keys })).rejects.toThrow(/has no stream/);
  });

  it('fails `truncated` from the KV latest checkpoint when the checkpoint log was cut back too', async () => {
    await build('tr-kv', 1_000, 500);
    await truncateChain('tr-kv', 900);
    const ckpt = await saveStream(streams.checkpoint('tr-kv'));
    await (await jetstreamManager(nats.nc)).streams.delete(streams.checkpoint('tr-kv'));
    await CheckpointLog.open(nats.nc, 'tr-kv');
    await republish(ckpt.slice(0, 1)); // only the checkpoint at 500 is left in the log
    const r = await verifyLiveFromAnchor(nats.nc, 'tr-kv', { trusted: keys });
    expect(r.result).toMatchObject({ ok: false, reason: 'truncated', sequence: 901n });
    expect(!r.result.ok && r.result.message).toMatch(/latest checkpoint in KV/);
    // A KV copy that is not a checkpoint at all fails the verification too (it is not skipped).
    const log = await CheckpointLog.open(nats.nc, 'tr-kv');
    await log.kv.put(kvKeys.latest('tr-kv'), '{"note":7}');
    const bad = await verifyLiveFromAnchor(nats.nc, 'tr-kv', { trusted: keys });
    expect(bad.result).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(!bad.result.ok && bad.result.message).toMatch(/latest checkpoint in KV \(unreadable/);
  });
});

describe('fleet', () => {
  it('a region whose chain lost its newest records, or its whole stream, fails the fleet verification', async () => {
    await build('tf-eu', 1_000, 500, euKey);
    await build('tf-us', 600, 500, usKey);
    const anchorer = new FleetAnchorer({ nc: nats.nc, fleet: 'tf', chains: ['tf-eu', 'tf-us'], trusted: fleetKeys });
    await anchorer.load();
    expect(await anchorer.tick()).toBe(2);
    const ok = await verifyFleet(nats.nc, 'tf', fleetKeys);
    expect(ok.ok).toBe(true);

    await truncateChain('tf-eu', 900);
    const cut = await verifyFleet(nats.nc, 'tf', fleetKeys);
    expect(cut.ok).toBe(false);
    const eu = cut.chains.find((c) => c.chainId === 'tf-eu')!;
    expect(eu.live?.result).toMatchObject({ ok: false, reason: 'truncated', sequence: 901n });
    expect(cut.chains.find((c) => c.chainId === 'tf-us')!.live?.result).toMatchObject({ ok: true, verified: 600 });

    // The region's stream deleted: a failed region in the report, not an exception for the whole fleet.
    await (await jetstreamManager(nats.nc)).streams.delete(streams.chain('tf-eu'));
    const gone = await verifyFleet(nats.nc, 'tf', fleetKeys);
    expect(gone.ok).toBe(false);
    expect(gone.chains.find((c) => c.chainId === 'tf-eu')!.live?.result).toMatchObject({ ok: false, reason: 'truncated', sequence: 1n });
  });

  it('the anchored checkpoints must be covered even when the region dropped them from its checkpoint log and KV', async () => {
    await build('tf-ap', 1_000, 500);
    const anchorer = new FleetAnchorer({ nc: nats.nc, fleet: 'tf2', chains: ['tf-ap'], trusted: keys });
    await anchorer.load();
    expect(await anchorer.tick()).toBe(1); // anchors the checkpoint at 1000
    await truncateChain('tf-ap', 900);
    const ckpt = await saveStream(streams.checkpoint('tf-ap'));
    await (await jetstreamManager(nats.nc)).streams.delete(streams.checkpoint('tf-ap'));
    const log = await CheckpointLog.open(nats.nc, 'tf-ap');
    await republish(ckpt.slice(0, 1));
    await log.kv.delete(kvKeys.latest('tf-ap'));
    const r = await verifyFleet(nats.nc, 'tf2', keys);
    expect(r.ok).toBe(false);
    const ap = r.chains.find((c) => c.chainId === 'tf-ap')!;
    expect(ap.live?.result).toMatchObject({ ok: false, reason: 'truncated', sequence: 901n });
    expect(!ap.live!.result.ok && ap.live!.result.message).toMatch(/fleet tf2 entry 1/);
  });
});

describe('git replica', () => {
  const chain = 'tr-git';
  const dir = (): string => join(work, 'replica');
  const segDir = (d: string): string => join(d, chain, 'segments');

  it('a replica behind the chain passes (its notes stop at its last record), and so does a caught-up one', async () => {
    const w = await build(chain, 600, 250); // checkpoints 250, 500, 600
    await replicateToGit({ nc: nats.nc, chainId: chain, dir: dir(), batch: 300 });
    await w.append(400);
    await checkpointWriter(nats.nc, w, key, 250); // 850, 1000
    const [behind] = await verifyGitReplica(dir(), { trusted: keys });
    expect(behind!.result).toMatchObject({ ok: true, verified: 600, checkpointsChecked: 3 });
    await replicateToGit({ nc: nats.nc, chainId: chain, dir: dir(), batch: 300 });
    const [rep] = await verifyGitReplica(dir(), { trusted: keys });
    expect(rep!.result).toMatchObject({ ok: true, verified: 1_000, checkpointsChecked: 5 });
    expect(readdirSync(segDir(dir())).sort().at(-1)).toBe(`${'901'.padStart(20, '0')}-${'1000'.padStart(20, '0')}.jsonl`);
  });

  it('fails `truncated` when the last segment files were deleted and the checkpoint notes kept', async () => {
    const copy = join(work, 'lost-tail');
    cpSync(dir(), copy, { recursive: true });
    rmSync(join(segDir(copy), `${'901'.padStart(20, '0')}-${'1000'.padStart(20, '0')}.jsonl`));
    const [rep] = await verifyGitReplica(copy, { trusted: keys });
    expect(rep!.result).toMatchObject({ ok: false, reason: 'truncated', sequence: 901n, file: `${chain}/checkpoints/${'1000'.padStart(20, '0')}.note` });
    expect(!rep!.result.ok && rep!.result.message).toMatch(/hwledger\/tr-git at 1000 is signed, the replica ends at 900/);
    // Also without keys.
    expect((await verifyGitReplica(copy))[0]!.result).toMatchObject({ ok: false, reason: 'truncated' });
  });

  it('fails `truncated` when every segment (and the segments folder) is gone but the notes remain', async () => {
    const copy = join(work, 'no-segments');
    cpSync(dir(), copy, { recursive: true });
    rmSync(segDir(copy), { recursive: true });
    const [named] = await verifyGitReplica(copy, { chainId: chain, trusted: keys });
    expect(named!.result).toMatchObject({ ok: false, reason: 'truncated', sequence: 1n });
    const [found] = await verifyGitReplica(copy, { trusted: keys });
    expect(found).toMatchObject({ chainId: chain, result: { ok: false, reason: 'truncated', sequence: 1n } });
  });
});
