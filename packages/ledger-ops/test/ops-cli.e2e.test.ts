/**
 * The issue-6 commands end to end, as separate processes (built CLI):
 * checkpoint keygen; sequencer --checkpoint-key; checkpoint show/verify;
 * prove + verify-proof (offline, forged bundles refused); replicate killed
 * with SIGKILL at every step of a batch and at random, then resumed without
 * duplicates; verify --git; archive + verify --archive (a flipped byte named);
 * fleet-anchor + verify --fleet.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { MemoryMerkleTree, parseSignedCheckpoint, parseSignerKey, signCheckpoint } from '@hwledger/chain';
import { HEADERS, ensureChainTopology, subjects } from '@hwledger/core';
import { encodeIngestBatch } from '@hwledger/proto';
import { chainStreamState } from '@hwledger/sequencer';
import { runCli, spawnCli, useNatsServer, waitFor } from '@hwledger/testkit';
import { CheckpointLog } from '@hwledger/ledger-ops';
import { testEvent } from './chain-fixture.js';

const CHAIN = 'e2e-ops';
const broker = useNatsServer({ clientName: 'e2e' });
let work: string;
let keyFile: string;
let pub: string;
const procs: ChildProcess[] = [];
let cutAt = 0n;

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { env: { HWL_LOG_LEVEL: 'warn', ...env }, timeoutMs: 120_000 });
const nats = (): string[] => ['--nats', broker.url];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hwl-ops-e2e-'));
  keyFile = join(work, 'ckpt.key');
});

afterAll(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
});

async function ingest(from: number, count: number, batch = 100): Promise<void> {
  const js = jetstream(broker.nc);
  for (let i = 0; i < count; i += batch) {
    const h = headers();
    h.set(HEADERS.msgId, `e2e-${from + i}`);
    const events = Array.from({ length: Math.min(batch, count - i) }, (_, k) => testEvent(from + i + k, `${CHAIN}/node-1`));
    await js.publish(subjects.ingest(CHAIN, 'node-1'), encodeIngestBatch(events), { headers: h });
  }
}

describe('hwledger proofs, replication, archival (processes)', () => {
  it('checkpoint keygen writes a signer key and prints the verifier key', async () => {
    const r = await cli(['checkpoint', 'keygen', '--name', 'hwl-e2e', '--out', keyFile]);
    expect(r.code, r.stderr).toBe(0);
    pub = r.stdout.trim();
    expect(pub).toMatch(/^hwl-e2e\+[0-9a-f]{8}\+/);
    expect(readFileSync(`${keyFile}.pub`, 'utf8').trim()).toBe(pub);
    expect(readFileSync(keyFile, 'utf8')).toMatch(/^PRIVATE\+KEY\+hwl-e2e\+/);
    expect((await cli(['checkpoint', 'keygen', '--name', 'x', '--out', keyFile])).code).toBe(2);
  });

  it('sequencer --checkpoint-key issues signed checkpoints as it seals', async () => {
    const seq = spawnCli(['sequencer', ...nats(), '--chain', CHAIN, '--takeover-grace-ms', '0', '--checkpoint-key', keyFile, '--checkpoint-every', '500', '--checkpoint-interval-ms', '300'], {
      env: { HWL_LOG_LEVEL: 'warn' },
    });
    procs.push(seq);
    await ensureChainTopology(broker.nc, CHAIN);
    await ingest(1, 2_000);
    await waitFor(async () => (await chainStreamState(broker.nc, CHAIN).catch(() => ({ last: 0n }))).last >= 2_000n, 60_000, 100, 'sealed');
    const log = await CheckpointLog.open(broker.nc, CHAIN);
    await waitFor(async () => (await log.latest())?.checkpoint.sequence === 2_000n, 20_000, 100, 'checkpoint at 2000');
    seq.kill('SIGTERM');
    await new Promise((r) => seq.once('exit', r));
    const show = await cli(['checkpoint', 'show', ...nats(), '--chain', CHAIN, '--key', pub]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/at sequence 2000/);
    expect(show.stdout).toMatch(/signature hwl-e2e \([0-9a-f]{8}\): valid/);
    const v = await cli(['checkpoint', 'verify', ...nats(), '--chain', CHAIN, '--key', `${keyFile}.pub`]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/checkpoints verified, latest at sequence 2000/);
  });

  it('prove writes bundles that verify-proof checks offline; forged ones are refused', async () => {
    const bundle = join(work, 'b1234.json');
    const trees = join(work, 'trees');
    const p = await cli(['prove', ...nats(), '--chain', CHAIN, '--seq', '1234', '--out', bundle, '--tree-dir', trees, '--key', pub]);
    expect(p.code, p.stderr).toBe(0);
    const ok = await cli(['verify-proof', bundle, '--key', pub]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/proof OK: record 1234 of chain e2e-ops .* checkpoint of 2000 records signed by hwl-e2e/);

    const other = join(work, 'other.key');
    await cli(['checkpoint', 'keygen', '--name', 'hwl-e2e', '--out', other]);
    const wrongKey = await cli(['verify-proof', bundle, '--key', `${other}.pub`]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/proof INVALID: checkpoint: no signature by a trusted key/);

    const b = JSON.parse(readFileSync(bundle, 'utf8')) as { record: { canonical: string }; inclusion_proof: string[]; checkpoint: string; sequence: string };
    const variants: [string, (x: typeof b) => void, RegExp][] = [
      ['edited record', (x) => void (x.record.canonical = x.record.canonical.slice(0, -2) + (x.record.canonical.endsWith('00') ? '01' : '00')), /INVALID/],
      ['flipped proof hash', (x) => void (x.inclusion_proof[3] = (x.inclusion_proof[3]!.startsWith('0') ? '1' : '0') + x.inclusion_proof[3]!.slice(1)), /not in the signed tree/],
      ['other sequence', (x) => void (x.sequence = '1235'), /differs from the bundle/],
      ['edited root line (signature breaks)', (x) => void (x.checkpoint = x.checkpoint.replace(/\n([A-Za-z0-9+/]{43}=)\n/, (_m, r: string) => `\n${r.startsWith('A') ? 'B' : 'A'}${r.slice(1)}\n`)), /does not verify/],
    ];
    for (const [name, edit, why] of variants) {
      const copy = JSON.parse(JSON.stringify(b)) as typeof b;
      edit(copy);
      const f = join(work, `forged-${name.replace(/\W+/g, '-')}.json`);
      writeFileSync(f, JSON.stringify(copy));
      const r = await cli(['verify-proof', f, '--key', pub]);
      expect(r.code, name).toBe(1);
      expect(r.stderr, name).toMatch(why);
    }

    // A checkpoint signed by the real key over another history (wrong root) is refused.
    const signer = parseSignerKey(readFileSync(keyFile, 'utf8'));
    const real = parseSignedCheckpoint(b.checkpoint).checkpoint;
    const fake = new MemoryMerkleTree();
    for (let i = 0; i < 2_000; i++) fake.append(new Uint8Array(32).fill(i % 251));
    const wrongRoot = { ...b, checkpoint: signCheckpoint({ ...real, rootHash: fake.root() }, [signer]).note };
    writeFileSync(join(work, 'wrong-root.json'), JSON.stringify(wrongRoot));
    const wr = await cli(['verify-proof', join(work, 'wrong-root.json'), '--key', pub]);
    expect(wr.code).toBe(1);
    expect(wr.stderr).toMatch(/not in the signed tree of 2000 records/);

    // Consistency between two checkpoints, and a forged (inconsistent) newer one.
    // Checkpoints fall where the size threshold or the timer fired (not necessarily at 500): take the first stored one.
    const first = (await (await CheckpointLog.open(broker.nc, CHAIN)).get(1))!.checkpoint.sequence;
    expect(first).toBeGreaterThan(0n);
    expect(first).toBeLessThan(2_000n);
    const cb = join(work, 'cons.json');
    const c = await cli(['prove', ...nats(), '--chain', CHAIN, '--consistency', `${first}:latest`, '--out', cb, '--tree-dir', trees]);
    expect(c.code, c.stderr).toBe(0);
    const cv = await cli(['verify-proof', cb, '--key', pub]);
    expect(cv.code, cv.stderr).toBe(0);
    expect(cv.stdout).toMatch(new RegExp(`checkpoint at 2000 extends the one at ${first}\\b`));
    const cons = JSON.parse(readFileSync(cb, 'utf8')) as { new_checkpoint: string };
    cons.new_checkpoint = wrongRoot.checkpoint;
    writeFileSync(join(work, 'cons-forged.json'), JSON.stringify(cons));
    const cf = await cli(['verify-proof', join(work, 'cons-forged.json'), '--key', pub]);
    expect(cf.code).toBe(1);
    expect(cf.stderr).toMatch(new RegExp(`not consistent with the one at ${first}\\b`));
  });

  it('replicate resumes after kill -9 at every step of a batch and at random, without duplicates', async () => {
    const repo = join(work, 'replica');
    const base = ['replicate', ...nats(), '--chain', CHAIN, '--git', repo, '--batch', '300'];
    // Killed after writing batch 2's segment, then after staging batch 1 of the next run.
    const k1 = await cli(base, { HWL_FAULT_REPLICATE_CRASH: '2:after-write' });
    expect(k1.signal).toBe('SIGKILL');
    const k2 = await cli(base, { HWL_FAULT_REPLICATE_CRASH: '1:after-add' });
    expect(k2.signal).toBe('SIGKILL');
    // Killed at a random moment, several times, with small batches.
    for (let i = 0; i < 3; i++) {
      const p = spawnCli(['replicate', ...nats(), '--chain', CHAIN, '--git', repo, '--batch', '40'], { env: { HWL_LOG_LEVEL: 'warn' } });
      procs.push(p);
      // Listened for from the start: a run may finish before the kill (then the kill is a no-op).
      const exited = new Promise((r) => p.once('exit', r));
      await new Promise((r) => setTimeout(r, 700 + Math.floor(Math.random() * 600)));
      p.kill('SIGKILL');
      await exited;
    }
    const done = await cli(base);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/replica at 2000/);
    const seqs = readdirSync(join(repo, CHAIN, 'segments'))
      .sort()
      .flatMap((f) => readFileSync(join(repo, CHAIN, 'segments', f), 'utf8').split('\n').filter((l) => l !== ''))
      .map((l) => (JSON.parse(l) as { sequence: string }).sequence);
    expect(seqs).toHaveLength(2_000);
    expect(new Set(seqs).size).toBe(2_000);
    const log = spawnSync('git', ['log', '--format=%s'], { cwd: repo, encoding: 'utf8' }).stdout.trim().split('\n');
    expect(new Set(log).size).toBe(log.length); // no batch committed twice
    expect(spawnSync('git', ['status', '--porcelain'], { cwd: repo, encoding: 'utf8' }).stdout).toBe('');
    const again = await cli(base);
    expect(again.stdout).toMatch(/replicated 0 records and 0 checkpoints/);

    const v = await cli(['verify', '--git', repo, '--key', pub]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toMatch(/2000 records in \d+ segments verified up to 2000, \d+ checkpoints signed and reproduced/);
    // A tampered replica is named.
    const copy = join(work, 'replica-tampered');
    cpSync(repo, copy, { recursive: true });
    const seg = readdirSync(join(copy, CHAIN, 'segments')).sort()[0]!;
    const path = join(copy, CHAIN, 'segments', seg);
    writeFileSync(path, readFileSync(path, 'utf8').replace(/"canonical":"01/, '"canonical":"02'));
    const bad = await cli(['verify', '--git', copy, '--key', pub]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/FAILED at sequence 1: undecodable/);
  });

  it('archive --older-than writes a verifiable archive, purges, and verify --archive checks it and the live chain', async () => {
    const dir = join(work, 'archive');
    // The cut is the latest checkpoint at or below --upto.
    const cut = (await (await CheckpointLog.open(broker.nc, CHAIN)).atOrBefore(1_200n))!.checkpoint.sequence;
    cutAt = cut;
    const a = await cli(['archive', ...nats(), '--chain', CHAIN, '--older-than', '0s', '--upto', '1200', '--to', dir, '--key', pub]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain(`archived records 1..${cut} of ${CHAIN}`);
    expect(a.stdout).toContain(`anchor now at ${cut}; purged ${cut} messages`);
    expect((await chainStreamState(broker.nc, CHAIN)).first).toBe(cut + 1n);
    const v = await cli(['verify', ...nats(), '--archive', dir, '--key', pub]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toContain(`${cut} records in 1 segments verified up to the cut at ${cut}`);
    expect(v.stdout).toContain(`live chain ${CHAIN}: ${2_000n - cut} records verified from the cut at ${cut} to 2000`);
    // A flipped byte in the archive is named.
    const seg = readdirSync(join(dir, CHAIN)).find((f) => f.endsWith('.jsonl.gz'))!;
    const p = join(dir, CHAIN, seg);
    const bytes = readFileSync(p);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(p, bytes);
    const bad = await cli(['verify', '--offline', '--archive', dir, '--key', pub]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(new RegExp(`FAILED at sequence \\d+: [a-z_]+: .*${seg.replace(/\./g, '\\.')}`));
  });

  it('fleet-anchor records the region checkpoint and verify --fleet checks the region against it', async () => {
    const f = await cli(['fleet-anchor', ...nats(), '--chains', CHAIN, '--fleet', 'e2e', '--key', pub, '--once']);
    expect(f.code, f.stderr).toBe(0);
    expect(f.stdout).toMatch(/anchored 1 region checkpoint/);
    const v = await cli(['verify', ...nats(), '--fleet', 'e2e', '--key', pub]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toMatch(/fleet e2e: 1 entries/);
    expect(v.stdout).toContain(`region e2e-ops: 1 anchored checkpoints; chain verified ${2_000n - cutAt} records from ${cutAt} to 2000`);
  });
});
