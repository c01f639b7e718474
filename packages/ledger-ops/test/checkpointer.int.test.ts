/**
 * Signed checkpoints on a real nats-server: issued every N records, roots
 * equal to the RFC 9162 root over the chain's record hashes, a log that
 * verifies pairwise, restart from the latest checkpoint in O(records since),
 * wired into a real Sequencer, and forged checkpoints (wrong key, wrong root,
 * another history) refused.
 */
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import {
  constantTimeEqual,
  generateSigner,
  genesisHash,
  merkleRoot,
  signCheckpoint,
  toHex,
  verifierOf,
  verifyCheckpoint,
  MemoryMerkleTree,
  type NoteSigner,
} from '@hwledger/chain';
import { connectNats } from '@hwledger/core';
import { Sequencer } from '@hwledger/sequencer';
import { TestNatsServer, useNatsServer, waitFor } from '@hwledger/testkit';
import { CheckpointLog, Checkpointer, verifyCheckpointLog, walkChain, type StoredCheckpoint } from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter, testEvent } from './chain-fixture.js';
import { encodeIngestBatch } from '@hwledger/proto';
import { jetstream } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { HEADERS, subjects } from '@hwledger/core';

const nats = useNatsServer({ clientName: 'ckpt-test' });
const key1 = generateSigner('hwl-test-1');
const key2 = generateSigner('hwl-test-2');

async function allCheckpoints(chain: string): Promise<StoredCheckpoint[]> {
  const log = await CheckpointLog.open(nats.nc, chain);
  const out: StoredCheckpoint[] = [];
  for await (const c of log.all()) out.push(c);
  return out;
}

function expectRootsMatch(cps: StoredCheckpoint[], hashes: Uint8Array[]): void {
  for (const c of cps) {
    const n = Number(c.checkpoint.sequence);
    expect(toHex(c.checkpoint.rootHash), `root at ${n}`).toBe(toHex(merkleRoot(hashes.slice(0, n))));
    expect(toHex(c.checkpoint.headHash), `head at ${n}`).toBe(toHex(hashes[n - 1]!));
  }
}

describe('Checkpointer', () => {
  it('checkpoints every N records with correct roots; the log verifies; KV holds the latest', async () => {
    const chain = 'ck-basic';
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(2_500);
    const cp = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key1, key2], everyRecords: 1_000, intervalMs: 0 });
    await cp.start();
    await cp.onResume({ sequence: 0n, hash: genesisHash(chain) });
    // Fed record by record as the sequencer does, with the event loop turning.
    for (let i = 0; i < w.hashes.length; i++) {
      await cp.onSealed({ sequence: BigInt(i + 1), hash: w.hashes[i]!, prevHash: i === 0 ? genesisHash(chain) : w.hashes[i - 1]! });
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await cp.stop({ flush: true });
    expect(cp.failure).toBeUndefined();
    expect(cp.readFromChain).toBe(0);
    const cps = await allCheckpoints(chain);
    expect(cps.map((c) => c.checkpoint.sequence)).toEqual([1_000n, 2_000n, 2_500n]);
    expect(cps.at(-1)!.checkpoint.sequence).toBe(2_500n);
    expectRootsMatch(cps, w.hashes);
    // Two signatures on every note (key rotation); each key alone verifies.
    for (const c of cps) {
      expect(c.signed.signatures.map((s) => s.keyName)).toEqual(['hwl-test-1', 'hwl-test-2']);
      expect(verifyCheckpoint(c.note, [verifierOf(key2)]).verifiedBy).toEqual(['hwl-test-2']);
    }
    const log = await CheckpointLog.open(nats.nc, chain);
    const report = await verifyCheckpointLog(log, [verifierOf(key1)]);
    expect(report.issues).toEqual([]);
    expect(report.checked).toBe(cps.length);
    const kv = await log.kvLatest();
    expect(kv?.size).toBe(2_500n);
  });

  it('KV mirror: a writer that wrote last updates in one request, and never overwrites a newer checkpoint another wrote', async () => {
    const chain = 'ck-kv';
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(300);
    await checkpointWriter(nats.nc, w, key1, 100);
    const base = (await allCheckpoints(chain)).at(-1)!;
    const a = await CheckpointLog.open(nats.nc, chain);
    const b = await CheckpointLog.open(nats.nc, chain);
    expect((await a.kvLatest())?.size).toBe(300n);
    // Only what updateKv reads differs between these and real checkpoints: the size.
    const at = (n: bigint): StoredCheckpoint => ({ ...base, checkpoint: { ...base.checkpoint, sequence: n } });
    expect(await a.updateKv(at(400n))).toBe(true); // read, then write
    expect(await a.updateKv(at(500n))).toBe(true); // revision-checked write of its own entry
    expect((await a.kvLatest())?.size).toBe(500n);
    expect(await b.updateKv(at(700n))).toBe(true); // another writer moves the entry on
    expect(await a.updateKv(at(600n))).toBe(false); // a's revision is stale: re-read, and 600 < 700 is refused
    expect((await a.kvLatest())?.size).toBe(700n);
    expect(await a.updateKv(at(800n))).toBe(true);
    expect((await b.kvLatest())?.size).toBe(800n);
    expect(await b.updateKv(at(800n))).toBe(false); // never to a tree of the same size twice
  });

  it('KV mirror: written at most every kvIntervalMs while the stream gets every checkpoint; a flush or stop writes the last one', async () => {
    const chain = 'ck-kv-throttle';
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(1_000);
    const cp = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key1], everyRecords: 100, intervalMs: 0, kvIntervalMs: 60_000 });
    await cp.start();
    await cp.onResume({ sequence: 0n, hash: genesisHash(chain) });
    const log = await CheckpointLog.open(nats.nc, chain);
    const feed = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        await cp.onSealed({ sequence: BigInt(i + 1), hash: w.hashes[i]!, prevHash: i === 0 ? genesisHash(chain) : w.hashes[i - 1]! });
        if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    };
    await feed(0, 500);
    await waitFor(async () => (await allCheckpoints(chain)).length === 5, 10_000, 50, 'five checkpoints in the stream');
    await waitFor(async () => (await log.kvLatest()) !== undefined, 10_000, 50, 'the first checkpoint in KV');
    // The first went to KV at once; the next four wait for the interval (a minute here).
    expect((await log.kvLatest())?.size).toBe(100n);
    expect((await cp.flush())?.checkpoint.sequence).toBe(500n);
    expect((await log.kvLatest())?.size).toBe(500n);
    await feed(500, 1_000);
    await waitFor(async () => (await allCheckpoints(chain)).length === 10, 10_000, 50, 'ten checkpoints in the stream');
    expect((await log.kvLatest())?.size).toBe(500n);
    await cp.stop();
    expect(cp.failure).toBeUndefined();
    expect((await log.kvLatest())?.size).toBe(1_000n);
  });

  it('restarts from the latest checkpoint reading only the records after it', async () => {
    const chain = 'ck-restart';
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(3_000);
    const a = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key1], everyRecords: 1_000, intervalMs: 0 });
    await a.start();
    await a.onResume({ sequence: w.sequence, hash: w.head });
    await a.stop({ flush: true });
    expect(a.readFromChain).toBe(3_000);
    await w.append(700);
    const b = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key1], everyRecords: 1_000, intervalMs: 0 });
    await b.start();
    await b.onResume({ sequence: w.sequence, hash: w.head });
    await b.stop({ flush: true });
    expect(b.failure).toBeUndefined();
    expect(b.readFromChain).toBe(700);
    const cps = await allCheckpoints(chain);
    expect(cps.at(-1)!.checkpoint.sequence).toBe(3_700n);
    expectRootsMatch(cps, w.hashes);
    const report = await verifyCheckpointLog(await CheckpointLog.open(nats.nc, chain), [verifierOf(key1)]);
    expect(report.issues).toEqual([]);
  });

  it('keeps checkpointing across a broker restart: a checkpoint lost in it is issued again, the log stays consistent', async () => {
    const own = await TestNatsServer.start();
    const conn = await connectNats(own.url, 'ckpt-restart-test');
    try {
      const chain = 'ck-broker-restart';
      const w = await ChainWriter.open(conn, chain);
      await w.append(3_000);
      const cp = new Checkpointer({ nc: conn, chainId: chain, signers: [key1], everyRecords: 500, intervalMs: 200, kvIntervalMs: 0 });
      await cp.start();
      await cp.onResume({ sequence: 0n, hash: genesisHash(chain) });
      const feed = async (from: number, to: number): Promise<void> => {
        for (let i = from; i < to; i++) {
          await cp.onSealed({ sequence: BigInt(i + 1), hash: w.hashes[i]!, prevHash: i === 0 ? genesisHash(chain) : w.hashes[i - 1]! });
          if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
        }
      };
      await feed(0, 1_200);
      await own.restart();
      // Records keep coming while the client reconnects; checkpoints due meanwhile fail and are retried.
      await feed(1_200, 3_000);
      // Publishes waiting when the connection comes back are refused then and retried (timer: 200 ms) until JetStream is up again.
      await waitFor(async () => (await CheckpointLog.open(conn, chain).then((l) => l.latest()).catch(() => undefined))?.checkpoint.sequence === 3_000n, 20_000, 100, 'a checkpoint of all 3,000 records');
      await cp.stop();
      expect(cp.failure).toBeUndefined();
      const log = await CheckpointLog.open(conn, chain);
      const report = await verifyCheckpointLog(log, [verifierOf(key1)]);
      expect(report.issues).toEqual([]);
      const cps: StoredCheckpoint[] = [];
      for await (const c of log.all()) cps.push(c);
      expectRootsMatch(cps, w.hashes);
      expect((await log.kvLatest())?.size).toBe(3_000n);
    } finally {
      await conn.close();
      await own.stop();
    }
  });

  it('issues on the timer when fewer than N records arrived', async () => {
    const chain = 'ck-timer';
    const w = await ChainWriter.open(nats.nc, chain);
    const cp = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key1], everyRecords: 1_000_000, intervalMs: 100 });
    await cp.start();
    await cp.onResume({ sequence: 0n, hash: w.head });
    await w.append(10);
    for (let i = 0; i < 10; i++) {
      const prev = i === 0 ? genesisHash(chain) : w.hashes[i - 1]!;
      await cp.onSealed({ sequence: BigInt(i + 1), hash: w.hashes[i]!, prevHash: prev });
    }
    await waitFor(async () => (await allCheckpoints(chain)).at(-1)?.checkpoint.sequence === 10n, 5_000, 50, 'timer checkpoint');
    await cp.stop();
    expectRootsMatch(await allCheckpoints(chain), w.hashes);
  });

  it('runs inside a Sequencer: every checkpoint matches the sealed chain', async () => {
    const chain = 'ck-seq';
    const conn = await connectNats(nats.url, 'seq');
    const cp = new Checkpointer({ nc: conn, chainId: chain, signers: [key1], everyRecords: 500, intervalMs: 200 });
    const seq = new Sequencer({
      nc: conn,
      chainId: chain,
      registry: new Registry(),
      takeoverGraceMs: 0,
      onSealed: (s) => cp.onSealed(s),
      onResume: (t) => cp.onResume(t),
    });
    await cp.start();
    await seq.start();
    const js = jetstream(conn);
    const events = Array.from({ length: 3_000 }, (_, i) => testEvent(i + 1, `${chain}/node-1`));
    for (let i = 0; i < events.length; i += 100) {
      const h = headers();
      h.set(HEADERS.msgId, `b-${i}`);
      await js.publish(subjects.ingest(chain, 'node-1'), encodeIngestBatch(events.slice(i, i + 100)), { headers: h });
    }
    await waitFor(() => cp.size >= 3_000n, 60_000, 100, 'sealed');
    await seq.stop();
    await cp.stop({ flush: true });
    expect(cp.failure).toBeUndefined();
    // Recompute the chain's hashes from the stream.
    const hashes: Uint8Array[] = [];
    for await (const r of walkChain(conn, { chainId: chain, sequence: 0n, hash: genesisHash(chain) })) hashes.push(r.hash);
    expect(hashes.length).toBe(3_000);
    const cps = await allCheckpoints(chain);
    expect(cps.at(-1)!.checkpoint.sequence).toBe(3_000n);
    expectRootsMatch(cps, hashes);
    await conn.close();
  });
});

describe('forged checkpoints are refused', () => {
  async function seeded(chain: string, n: number): Promise<ChainWriter> {
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(n);
    const cp = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key1], everyRecords: 1_000, intervalMs: 0 });
    await cp.start();
    await cp.onResume({ sequence: w.sequence, hash: w.head });
    await cp.stop({ flush: true });
    return w;
  }

  async function plant(chain: string, signer: NoteSigner, tree: MemoryMerkleTree, head: Uint8Array, prev: StoredCheckpoint): Promise<void> {
    const log = await CheckpointLog.open(nats.nc, chain);
    const size = tree.size;
    const signed = signCheckpoint({ chainId: chain, sequence: size, headHash: head, rootHash: tree.root(), timeMs: BigInt(Date.now()) }, [signer]);
    await log.append({ signed, compact: tree.compactRange(), prevSize: prev.checkpoint.sequence, consistency: tree.consistencyProof(prev.checkpoint.sequence) }, prev.streamSeq);
  }

  it('a checkpoint signed by an unknown key stops the checkpointer and fails the log check', async () => {
    const chain = 'ck-forge-key';
    const w = await seeded(chain, 1_200);
    const prev = (await allCheckpoints(chain)).at(-1)!;
    await w.append(100);
    const t = new MemoryMerkleTree();
    for (const h of w.hashes) t.append(h);
    await plant(chain, generateSigner('mallory'), t, w.head, prev);
    const cp = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key1], intervalMs: 0 });
    await cp.start().then(
      () => expect.unreachable('started on a forged checkpoint'),
      (e: unknown) => expect(String(e)).toMatch(/not signed by a trusted key/),
    );
    const report = await verifyCheckpointLog(await CheckpointLog.open(nats.nc, chain), [verifierOf(key1)]);
    expect(report.issues[0]?.reason).toBe('bad_signature');
    expect(report.issues[0]?.size).toBe(1_300n);
  });

  it('a correctly signed checkpoint of another history (wrong root) is refused as inconsistent', async () => {
    const chain = 'ck-forge-root';
    const w = await seeded(chain, 1_000);
    const prev = (await allCheckpoints(chain)).at(-1)!;
    await w.append(50);
    // A fork: record 10 replaced. Signed with the real key (a compromised signer or a buggy writer).
    const forked = w.hashes.slice();
    forked[9] = new Uint8Array(32).fill(7);
    const t = new MemoryMerkleTree();
    for (const h of forked) t.append(h);
    const log = await CheckpointLog.open(nats.nc, chain);
    const signed = signCheckpoint({ chainId: chain, sequence: t.size, headHash: w.head, rootHash: t.root(), timeMs: 1n }, [key1]);
    // Its carried proof cannot link it to the earlier checkpoint: use the fork's own proof.
    await log.append({ signed, compact: t.compactRange(), prevSize: prev.checkpoint.sequence, consistency: t.consistencyProof(prev.checkpoint.sequence) }, prev.streamSeq);
    const report = await verifyCheckpointLog(log, [verifierOf(key1)]);
    expect(report.issues[0]?.reason).toBe('inconsistent');
    expect(report.issues[0]?.size).toBe(1_050n);
    const cp = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key1], intervalMs: 0 });
    await expect(cp.start()).rejects.toThrow(/not consistent/);
  });

  it('a checkpoint whose head is not the chain record at its size is refused on start', async () => {
    const chain = 'ck-forge-head';
    const w = await seeded(chain, 1_000);
    const prev = (await allCheckpoints(chain)).at(-1)!;
    await w.append(20);
    const t = new MemoryMerkleTree();
    for (const h of w.hashes) t.append(h);
    await plant(chain, key1, t, new Uint8Array(32).fill(9), prev);
    const cp = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key1], intervalMs: 0 });
    await expect(cp.start()).rejects.toThrow(/does not match record 1020/);
  });

  it('two checkpointers racing never publish inconsistent checkpoints (expected-last-sequence fence)', async () => {
    const chain = 'ck-race';
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(5_000);
    const a = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key1], everyRecords: 300, intervalMs: 0 });
    const b = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key1], everyRecords: 200, intervalMs: 0 });
    await a.start();
    await b.start();
    await Promise.all([a.onResume({ sequence: w.sequence, hash: w.head }), b.onResume({ sequence: w.sequence, hash: w.head })]);
    await Promise.all([a.stop({ flush: true }), b.stop({ flush: true })]);
    expect(a.failure).toBeUndefined();
    expect(b.failure).toBeUndefined();
    const cps = await allCheckpoints(chain);
    expectRootsMatch(cps, w.hashes);
    for (let i = 1; i < cps.length; i++) expect(cps[i]!.checkpoint.sequence).toBeGreaterThan(cps[i - 1]!.checkpoint.sequence);
    const report = await verifyCheckpointLog(await CheckpointLog.open(nats.nc, chain), [verifierOf(key1)]);
    expect(report.issues).toEqual([]);
    expect(constantTimeEqual(cps.at(-1)!.checkpoint.headHash, w.head)).toBe(true);
  });
});
