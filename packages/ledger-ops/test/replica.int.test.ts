/**
 * Git replication on a real nats-server and a real git: one commit per
 * batch, idempotent re-runs, recovery from what a crash leaves behind (an
 * uncommitted segment, a staged index, a stale index.lock) without
 * duplicates, refusal to build on a modified or foreign replica, and
 * verification that names a tampered record.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigner, genesisHash, verifierOf } from '@hwledger/chain';
import { useNatsServer } from '@hwledger/testkit';
import { replicateToGit, verifyGitReplica } from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'replica-test' });
let work: string;
const key = generateSigner('hwl-replica-test');
const keys = [verifierOf(key)];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hwl-replica-'));
});

afterAll(async () => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const git = (dir: string, ...args: string[]): string => spawnSync('git', args, { cwd: dir, encoding: 'utf8' }).stdout;

async function grow(chain: string, w: ChainWriter, n: number): Promise<void> {
  await w.append(n);
  await checkpointWriter(nats.nc, w, key, 700);
}

function sequences(dir: string, chain: string): string[] {
  const segs = readdirSync(join(dir, chain, 'segments')).sort();
  return segs.flatMap((f) =>
    readFileSync(join(dir, chain, 'segments', f), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as { sequence: string }).sequence),
  );
}

describe('git replication of a live chain', () => {
  it('one run replicates up to the head it found and returns, while records keep arriving', async () => {
    const chain = 'rep-live';
    const dir = join(work, 'replica-live');
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(500);
    // A writer appending in small bursts for the whole run (as a sequencer under traffic does).
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await w.append(3);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      const r = await replicateToGit({ nc: nats.nc, chainId: chain, dir, batch: 200 });
      // At least what was there at the start, and in batches of 200: not a commit per burst of new records.
      expect(r.head).toBeGreaterThanOrEqual(500n);
      expect(r.records).toBe(Number(r.head));
      expect(r.commits).toBeLessThanOrEqual(Math.ceil(Number(r.head) / 200));
      expect(sequences(dir, chain)).toEqual(Array.from({ length: Number(r.head) }, (_, i) => String(i + 1)));
    } finally {
      writing = false;
      await writer;
    }
    // The next run takes what arrived meanwhile, continuing the same history.
    const before = w.sequence;
    const r2 = await replicateToGit({ nc: nats.nc, chainId: chain, dir, batch: 200 });
    expect(r2.head).toBe(before);
    const [rep] = await verifyGitReplica(dir);
    expect(rep!.result).toMatchObject({ ok: true, verified: Number(before) });
  }, 60_000);
});

describe('git replication', () => {
  const chain = 'rep-1';
  const dir = () => join(work, 'replica');

  it('replicates records and checkpoints, one commit per batch, and verifies', async () => {
    const w = await ChainWriter.open(nats.nc, chain);
    await grow(chain, w, 2_500);
    const r = await replicateToGit({ nc: nats.nc, chainId: chain, dir: dir(), batch: 1_000 });
    expect(r).toMatchObject({ commits: 3, records: 2_500, head: 2_500n });
    expect(r.checkpoints).toBe(4); // 700, 1400, 2100, 2500
    expect(git(dir(), 'log', '--oneline').trim().split('\n')).toHaveLength(3);
    const [rep] = await verifyGitReplica(dir(), { trusted: keys });
    expect(rep!.result).toMatchObject({ ok: true, verified: 2_500, checkpointsChecked: 4 });
    expect(rep!.uncommitted).toEqual([]);
  });

  it('is idempotent: a re-run with nothing new commits nothing', async () => {
    const r = await replicateToGit({ nc: nats.nc, chainId: chain, dir: dir(), batch: 1_000 });
    expect(r).toMatchObject({ commits: 0, records: 0, head: 2_500n });
    expect(git(dir(), 'log', '--oneline').trim().split('\n')).toHaveLength(3);
  });

  it('recovers from an interrupted batch (uncommitted segment, staged index, stale lock) without duplicates', async () => {
    // Simulate a crash mid-batch: a half-written segment staged in the index, a leftover note, a stale index.lock.
    writeFileSync(join(dir(), chain, 'segments', `${'2501'.padStart(20, '0')}-${'3000'.padStart(20, '0')}.jsonl`), '{"garbage":');
    writeFileSync(join(dir(), chain, 'checkpoints', `${'2800'.padStart(20, '0')}.note`), 'half');
    spawnSync('git', ['add', '--', chain], { cwd: dir() });
    writeFileSync(join(dir(), '.git', 'index.lock'), '');
    // More records arrive; the next run discards the leftovers and resumes at 2501.
    const writer = await reopen(chain);
    await grow(chain, writer, 800);
    const r = await replicateToGit({ nc: nats.nc, chainId: chain, dir: dir(), batch: 1_000 });
    expect(r).toMatchObject({ commits: 1, records: 800, head: 3_300n });
    const seqs = sequences(dir(), chain);
    expect(seqs).toHaveLength(3_300);
    expect(new Set(seqs).size).toBe(3_300);
    expect(seqs.at(-1)).toBe('3300');
    const [rep] = await verifyGitReplica(dir(), { trusted: keys });
    expect(rep!.result).toMatchObject({ ok: true, verified: 3_300 });
    expect(git(dir(), 'status', '--porcelain')).toBe('');
  });

  it('refuses to append onto a replica whose committed files were modified', async () => {
    const copy = join(work, 'modified');
    cpSync(dir(), copy, { recursive: true });
    const seg = readdirSync(join(copy, chain, 'segments')).sort()[0]!;
    const p = join(copy, chain, 'segments', seg);
    writeFileSync(p, readFileSync(p, 'utf8').replace('"sequence":"5"', '"sequence":"5" '));
    await expect(replicateToGit({ nc: nats.nc, chainId: chain, dir: copy })).rejects.toThrow(/local changes to committed files/);
  });

  it('refuses a replica whose last record does not link to the live chain (another history)', async () => {
    const other = 'rep-other';
    const w = await ChainWriter.open(nats.nc, other);
    await w.append(50);
    const copy = join(work, 'foreign');
    await replicateToGit({ nc: nats.nc, chainId: other, dir: copy });
    // Same chain id, different history: rewrite the live chain under it.
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const jsm = await jetstreamManager(nats.nc);
    await jsm.streams.delete(`HWL_CHAIN_${other}`);
    const w2 = await ChainWriter.open(nats.nc, other);
    await w2.append(1); // record 1 differs (different sealed time)
    await w2.append(59);
    await expect(replicateToGit({ nc: nats.nc, chainId: other, dir: copy })).rejects.toThrow(/sequence 51: broken_link/);
  });

  it('names the first tampered record of a replica', async () => {
    const copy = join(work, 'tampered');
    cpSync(dir(), copy, { recursive: true });
    const segs = readdirSync(join(copy, chain, 'segments')).sort();
    const p = join(copy, chain, 'segments', segs[1]!);
    const lines = readFileSync(p, 'utf8').split('\n');
    const obj = JSON.parse(lines[10]!) as { canonical: string; sequence: string };
    obj.canonical = obj.canonical.slice(0, -1) + (obj.canonical.endsWith('a') ? 'b' : 'a');
    lines[10] = JSON.stringify(obj);
    writeFileSync(p, lines.join('\n'));
    const [rep] = await verifyGitReplica(copy, { trusted: keys });
    expect(rep!.result).toMatchObject({ ok: false, sequence: 1_011n, reason: 'hash_mismatch', file: `${chain}/segments/${segs[1]}`, line: 11 });
    // A deleted segment is a gap.
    rmSync(p);
    const [gap] = await verifyGitReplica(copy, { trusted: keys });
    expect(gap!.result).toMatchObject({ ok: false, sequence: 1_001n, reason: 'gap' });
    // A checkpoint signed by another key is refused.
    const [wrongKey] = await verifyGitReplica(dir(), { trusted: [verifierOf(generateSigner('mallory'))] });
    expect(wrongKey!.result).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(existsSync(join(dir(), chain, 'anchor.json'))).toBe(false);
  });
});

/** A ChainWriter positioned at the end of an existing chain (for appending more). */
async function reopen(chain: string): Promise<ChainWriter> {
  const w = await ChainWriter.open(nats.nc, chain);
  const { walkChain } = await import('@hwledger/ledger-ops');
  for await (const r of walkChain(nats.nc, { chainId: chain, sequence: 0n, hash: genesisHash(chain) })) {
    w.hashes.push(r.hash);
    w.sequence = r.sequence;
    w.head = r.hash;
  }
  return w;
}
