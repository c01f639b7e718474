/**
 * `hwledger verify --file EXPORT --checkpoint NOTE --key KEY`: an export
 * checked offline against signed checkpoint notes. The threat: whoever hands
 * over an export can re-seal a different history from genesis, every hash
 * recomputed; plain `--file` verifies that file (the hash chain alone cannot
 * tell). A note signed by the sequencer's key fixes the head hash and the
 * RFC 9162 root at its size. Before, `--key` with `--file` was refused, and
 * an auditor holding only an export and a note had no way to check one
 * against the other. Real nats-server, the real CLI.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { formatVerifierKey, generateSigner, verifierOf } from '@hwledger/chain';
import { streams } from '@hwledger/core';
import { runCli, useNatsServer } from '@hwledger/testkit';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

const CHAIN = 'file-signed';
const broker = useNatsServer({ clientName: 'file-signed' });
const key = generateSigner('hwl-file');
const other = generateSigner('hwl-other');
let work: string;
let pub: string;
let otherPub: string;
let exported: string;
let note: string;

const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { env: { HWL_LOG_LEVEL: 'warn', HWL_CHAIN_ID: '', HWL_CHECKPOINT_PUBKEYS: '', ...env }, timeoutMs: 60_000 });
const verify = (args: string[], env: NodeJS.ProcessEnv = {}) => run(['verify', ...args], env);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hwl-file-signed-'));
  pub = join(work, 'key.pub');
  otherPub = join(work, 'other.pub');
  writeFileSync(pub, `${formatVerifierKey(verifierOf(key))}\n`);
  writeFileSync(otherPub, `${formatVerifierKey(verifierOf(other))}\n`);
  const w = await ChainWriter.open(broker.nc, CHAIN);
  await w.append(300);
  await checkpointWriter(broker.nc, w, key, 100);
  // What an auditor is handed: an export, and the latest signed checkpoint as `checkpoint show --json` gives it.
  exported = join(work, 'chain.jsonl');
  const ex = await run(['export', '--nats', broker.url, '--chain', CHAIN, '--out', exported]);
  expect(ex.code, ex.stderr).toBe(0);
  const show = await run(['checkpoint', 'show', '--nats', broker.url, '--chain', CHAIN, '--json']);
  expect(show.code, show.stderr).toBe(0);
  note = join(work, 'latest.note');
  const shown = JSON.parse(show.stdout) as { sequence: string; note: string };
  expect(shown.sequence).toBe('300');
  writeFileSync(note, shown.note);
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('hwledger verify --file --checkpoint', () => {
  it('verifies an export against a signed checkpoint: head hash and Merkle root; the chain id comes from the note', async () => {
    const r = await verify(['--file', exported, '--checkpoint', note, '--key', pub]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`verified 300 records of chain ${CHAIN} (chain.jsonl, from genesis): head sequence 300; 1 signed checkpoint verified and reproduced\n`);
    // Keys from the environment, the chain named.
    const env = await verify(['--file', exported, '--checkpoint', note, '--chain', CHAIN], { HWL_CHECKPOINT_PUBKEYS: pub });
    expect(env.code, env.stderr).toBe(0);
  });

  it('a note signed by another key is bad_signature', async () => {
    const r = await verify(['--file', exported, '--checkpoint', note, '--key', otherPub]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAILED at sequence 0: bad_signature: checkpoint latest\.note: /);
  });

  it('an export that stops before the checkpoint is truncated', async () => {
    const short = join(work, 'short.jsonl');
    writeFileSync(short, readFileSync(exported, 'utf8').split('\n').slice(0, 250).join('\n') + '\n');
    const plain = await verify(['--file', short]);
    expect(plain.code, plain.stdout).toBe(0); // internally consistent
    const r = await verify(['--file', short, '--checkpoint', note, '--key', pub]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAILED at sequence 251: truncated: checkpoint hwledger\/file-signed at 300 is signed, the export ends at 250/);
  });

  it('usage: a key is needed, no --anchor, and --checkpoint only with --file', async () => {
    const noKey = await verify(['--file', exported, '--checkpoint', note]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/needs the verifier key/);
    const anchored = await verify(['--file', exported, '--checkpoint', note, '--key', pub, '--anchor', `10:${'0'.repeat(64)}`]);
    expect(anchored.code).toBe(2);
    expect(anchored.stderr).toMatch(/takes no --anchor/);
    const live = await verify(['--nats', broker.url, '--chain', CHAIN, '--checkpoint', note, '--key', pub]);
    expect(live.code).toBe(2);
    expect(live.stderr).toMatch(/--checkpoint is for verify --file/);
    const keyOnly = await verify(['--file', exported, '--key', pub]);
    expect(keyOnly.code).toBe(2);
    expect(keyOnly.stderr).toMatch(/takes --key only with --checkpoint/);
    const missing = await verify(['--file', exported, '--checkpoint', join(work, 'nope.note'), '--key', pub]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read checkpoint/);
  });

  it('catches a re-sealed history that plain --file passes', async () => {
    // The attack: a different history of the same length sealed from genesis and exported.
    const jsm = await jetstreamManager(broker.nc);
    await jsm.streams.delete(streams.chain(CHAIN));
    const forged = await ChainWriter.open(broker.nc, CHAIN);
    await forged.append(300, undefined, 10_000);
    const forgedFile = join(work, 'forged.jsonl');
    const ex = await run(['export', '--nats', broker.url, '--chain', CHAIN, '--out', forgedFile]);
    expect(ex.code, ex.stderr).toBe(0);
    const plain = await verify(['--file', forgedFile]);
    expect(plain.code, plain.stdout).toBe(0); // the hash chain alone cannot tell
    const signed = await verify(['--file', forgedFile, '--checkpoint', note, '--key', pub]);
    expect(signed.code).toBe(1);
    expect(signed.stdout).toMatch(/^FAILED at sequence 300: checkpoint_mismatch: record 300 hashes to [0-9a-f]{64}, checkpoint latest\.note signs head /);
  });
});
