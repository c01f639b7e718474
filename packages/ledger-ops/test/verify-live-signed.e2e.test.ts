/**
 * `hwledger verify --key` on the live chain (threat: a broker operator
 * deletes the chain stream and re-seals a different history of the same
 * length, every hash recomputed: the hash chain alone verifies it, so plain
 * live mode passes; the signed checkpoints of the real history do not).
 * With keys, every checkpoint of the chain's log and KV must be signed by
 * one of them and reproduced by the records. And a key is never accepted
 * where it would check nothing (`--file`), or silently dropped (`--anchor`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { formatVerifierKey, generateSigner, verifierOf } from '@hwledger/chain';
import { streams } from '@hwledger/core';
import { runCli, useNatsServer } from '@hwledger/testkit';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

const CHAIN = 'live-signed';
const broker = useNatsServer({ clientName: 'live-signed' });
const key = generateSigner('hwl-live');
const other = generateSigner('hwl-other');
let work: string;
let pub: string;
let otherPub: string;

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(['verify', '--nats', broker.url, '--chain', CHAIN, ...args], { env: { HWL_LOG_LEVEL: 'warn', ...env }, timeoutMs: 60_000 });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hwl-live-signed-'));
  pub = join(work, 'key.pub');
  otherPub = join(work, 'other.pub');
  writeFileSync(pub, `${formatVerifierKey(verifierOf(key))}\n`);
  writeFileSync(otherPub, `${formatVerifierKey(verifierOf(other))}\n`);
  const w = await ChainWriter.open(broker.nc, CHAIN);
  await w.append(300);
  await checkpointWriter(broker.nc, w, key, 100);
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('hwledger verify --key (live chain)', () => {
  it('verifies the records and every signed checkpoint', async () => {
    const r = await cli(['--key', pub]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^verified 300 records of chain live-signed \(stream HWL_CHAIN_live-signed, from genesis\): head sequence 300, head hash [0-9a-f]{64}; \d+ signed checkpoints verified and reproduced\n$/);
    // The same keys from the environment.
    const env = await cli([], { HWL_CHECKPOINT_PUBKEYS: pub });
    expect(env.code, env.stderr).toBe(0);
    expect(env.stdout).toMatch(/signed checkpoints verified and reproduced/);
  });

  it('fails on checkpoints signed by another key', async () => {
    const r = await cli(['--key', otherPub]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAILED at sequence \d+: bad_signature: /);
  });

  it('refuses --key where it would check nothing or be dropped', async () => {
    const withAnchor = await cli(['--key', pub, '--anchor', `10:${'0'.repeat(64)}`]);
    expect(withAnchor.code).toBe(2);
    expect(withAnchor.stderr).toMatch(/takes no --anchor/);
    const file = join(work, 'empty.jsonl');
    writeFileSync(file, '');
    const withFile = await cli(['--file', file, '--key', pub]);
    expect(withFile.code).toBe(2);
    expect(withFile.stderr).toMatch(/--file takes --key only with --checkpoint/);
  });

  it('catches a re-sealed history that plain live mode passes', async () => {
    // The attack: the stream deleted and a different history of the same length sealed from genesis
    // (records start at another event number, so every body and hash differs). The checkpoint log and KV stay.
    const jsm = await jetstreamManager(broker.nc);
    await jsm.streams.delete(streams.chain(CHAIN));
    const forged = await ChainWriter.open(broker.nc, CHAIN);
    await forged.append(300, undefined, 10_000);
    const plain = await cli([]);
    expect(plain.code, plain.stdout).toBe(0); // the hash chain alone cannot tell
    const signed = await cli(['--key', pub]);
    expect(signed.code).toBe(1);
    expect(signed.stdout).toMatch(/^FAILED at sequence 100: checkpoint_mismatch: /);
  });
});
