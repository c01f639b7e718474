/**
 * A git replica is not trusted, on a real nats-server and a real git: a
 * committed anchor.json that is not JSON or is another chain's stops
 * replication with INTEGRITY (not a raw SyntaxError, not a walk of the wrong
 * chain); verifying a directory that holds another chain's replica (its
 * anchor.json names that chain) fails with `wrong_chain`; a segment line
 * longer than the 64 MiB cap is refused at the cap (`line_too_long`, file
 * and line) instead of being buffered whole.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigner, verifierOf } from '@hwledger/chain';
import { useNatsServer } from '@hwledger/testkit';
import { archiveChain, replicateToGit, verifyGitReplica } from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'replica-hardening-test' });
let work: string;
const key = generateSigner('hwl-replica-hardening');
const keys = [verifierOf(key)];
const chain = 'rph-a';
const replica = (): string => join(work, 'replica');

const git = (dir: string, ...args: string[]): void => {
  const r = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hwl-replica-hardening-'));
  // A chain whose prefix 1..1000 was archived: its replica starts at the archive anchor (anchor.json).
  const w = await ChainWriter.open(nats.nc, chain);
  await w.append(1_500);
  await checkpointWriter(nats.nc, w, key, 500);
  await archiveChain({ nc: nats.nc, chainId: chain, dir: join(work, 'archive'), olderThanMs: 0, upto: 1_000n, trusted: keys });
  await replicateToGit({ nc: nats.nc, chainId: chain, dir: replica(), trusted: keys });
});

afterAll(async () => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('a replica anchor.json is not trusted', () => {
  it('the replica starts at the archive anchor and verifies', async () => {
    const [rep] = await verifyGitReplica(replica(), { chainId: chain, trusted: keys });
    expect(rep!.result).toMatchObject({ ok: true, verified: 500 });
  });

  it("verifying another chain's replica directory fails with wrong_chain", async () => {
    const dir = join(work, 'renamed');
    cpSync(join(replica(), chain), join(dir, 'rph-b'), { recursive: true });
    const [rep] = await verifyGitReplica(dir, { chainId: 'rph-b', trusted: keys });
    expect(rep!.result).toMatchObject({ ok: false, reason: 'wrong_chain', file: 'rph-b/anchor.json' });
    expect(!rep!.result.ok && rep!.result.message).toMatch(/anchor of chain "rph-a", not rph-b/);
  });

  it("replication refuses a committed anchor.json of another chain (INTEGRITY)", async () => {
    const dir = join(work, 'foreign-anchor');
    cpSync(replica(), dir, { recursive: true });
    cpSync(join(dir, chain), join(dir, 'rph-c'), { recursive: true });
    git(dir, 'add', '--', 'rph-c');
    git(dir, 'commit', '-q', '-m', 'foreign');
    const e = await replicateToGit({ nc: nats.nc, chainId: 'rph-c', dir }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'INTEGRITY' });
    expect((e as Error).message).toMatch(/rph-c\/anchor.json is an anchor of chain "rph-a", not rph-c/);
  });

  it('replication and verification refuse a committed anchor.json that is not JSON, with a stable code', async () => {
    const dir = join(work, 'bad-json');
    cpSync(replica(), dir, { recursive: true });
    writeFileSync(join(dir, chain, 'anchor.json'), '{"chain_id": "rph-a", ');
    git(dir, 'add', '--', chain);
    git(dir, 'commit', '-q', '-m', 'broken anchor');
    const e = await replicateToGit({ nc: nats.nc, chainId: chain, dir }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'INTEGRITY' });
    expect((e as Error).message).toMatch(/rph-a\/anchor.json is not valid JSON/);
    const [rep] = await verifyGitReplica(dir, { chainId: chain, trusted: keys });
    expect(rep!.result).toMatchObject({ ok: false, reason: 'checkpoint_mismatch', file: 'rph-a/anchor.json' });
    expect(!rep!.result.ok && rep!.result.message).toMatch(/anchor.json is not valid JSON/);
  });
});

describe('replica segment lines are capped', () => {
  it('a line longer than 64 MiB is refused at the cap, naming the file and line', async () => {
    const dir = join(work, 'long-line');
    cpSync(replica(), dir, { recursive: true });
    const seg = readdirSync(join(dir, chain, 'segments')).sort()[0]!;
    // A sparse file: 64 MiB + 1 bytes and no newline, without writing them.
    rmSync(join(dir, chain, 'segments', seg));
    writeFileSync(join(dir, chain, 'segments', seg), '');
    truncateSync(join(dir, chain, 'segments', seg), 64 * 1024 * 1024 + 1);
    const [rep] = await verifyGitReplica(dir, { chainId: chain, trusted: keys });
    const file = `${chain}/segments/${seg}`;
    expect(rep!.result).toMatchObject({ ok: false, sequence: 1_001n, reason: 'malformed_line', file, line: 1 });
    expect(!rep!.result.ok && rep!.result.message).toMatch(new RegExp(`^line_too_long: line 1 of ${file} is longer than 67108864 bytes`));
  });
});
