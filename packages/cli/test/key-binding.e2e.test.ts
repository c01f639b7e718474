/**
 * Checkpoint keys bound to chains on the command line (built CLI; run
 * `npx tsc -b packages/cli` first). Threat: the holder of us-east-1's key
 * signs eu-west-1 checkpoints. `--key CHAIN=KEY` (or the same in
 * HWL_CHECKPOINT_PUBKEYS) trusts KEY for CHAIN only:
 * - verify-proof refuses an eu bundle signed by the us key when the keys
 *   are bound (exit 1), refuses to guess with several unbound keys and no
 *   --chain (exit 2), and with --chain trusts unbound keys for that chain
 *   only; legitimate bundles pass, and one unbound key alone works as before;
 * - fleet-anchor and verify --fleet over two regions refuse unbound keys
 *   (exit 2) and run with bound ones (real nats-server).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryMerkleTree, formatVerifierKey, generateSigner, genesisHash, sealEvent, signCheckpoint, verifierOf, type NoteSigner, type Sealed } from '@hwledger/chain';
import { runCli, useNatsServer } from '@hwledger/testkit';
import { makeInclusionBundle } from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter, testEvent } from '../../ledger-ops/test/chain-fixture.js';

const EU = 'eu-west-1';
const US = 'us-east-1';
const euKey = generateSigner('hwl-eu');
const usKey = generateSigner('hwl-us');
let work: string;
let euPub: string;
let usPub: string;
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { env: { HWL_LOG_LEVEL: 'warn', HWL_CHECKPOINT_PUBKEYS: '', ...env }, timeoutMs: 120_000 });

/** A bundle proving record `seq` of `chainId`'s records (real, then `fake` of the forger's making) in a checkpoint signed by `signer`. */
function bundleFile(name: string, chainId: string, real: number, fake: number, seq: number, signer: NoteSigner): string {
  const tree = new MemoryMerkleTree();
  const recs: Sealed[] = [];
  for (let i = 1; i <= real + fake; i++) {
    const s = sealEvent(testEvent(i + (i > real ? 1000 : 0)), { chainId, sequence: BigInt(i), sealedAtMs: 1_700_000_000_000n + BigInt(i) }, recs.at(-1)?.hash ?? genesisHash(chainId));
    recs.push(s);
    tree.append(s.hash);
  }
  const note = signCheckpoint({ chainId, sequence: tree.size, headHash: recs.at(-1)!.hash, rootHash: tree.root(), timeMs: 1n }, [signer]).note;
  const r = recs[seq - 1]!;
  const b = makeInclusionBundle({ note, chainId, sequence: BigInt(seq), treeSize: tree.size, canonical: r.canonical, prevHash: r.prevHash, hash: r.hash, proof: tree.inclusionProof(BigInt(seq - 1)) });
  const f = join(work, name);
  writeFileSync(f, JSON.stringify(b));
  return f;
}

let euBundle: string;
let usBundle: string;
let forged: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'hwl-keybind-'));
  euPub = join(work, 'eu.pub');
  usPub = join(work, 'us.pub');
  writeFileSync(euPub, formatVerifierKey(verifierOf(euKey)) + '\n');
  writeFileSync(usPub, formatVerifierKey(verifierOf(usKey)) + '\n');
  euBundle = bundleFile('eu.json', EU, 20, 0, 7, euKey);
  usBundle = bundleFile('us.json', US, 12, 0, 12, usKey);
  // The forgery: eu's 20 records plus 5 of the us key holder's making, signed for eu with the us key.
  forged = bundleFile('forged.json', EU, 20, 5, 23, usKey);
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('verify-proof with keys bound to chains', () => {
  it('refuses an eu bundle signed by the us key when the keys are bound, and accepts each region\'s own', async () => {
    const keys = ['--key', `${EU}=${euPub}`, '--key', `${US}=${usPub}`];
    const bad = await cli(['verify-proof', forged, ...keys]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/proof INVALID: checkpoint: no signature by a trusted key for origin hwledger\/eu-west-1; signed by hwl-us \(trusted for us-east-1\)/);
    for (const b of [euBundle, usBundle]) expect((await cli(['verify-proof', b, ...keys])).code).toBe(0);
    // Key text instead of a file, and the environment variable, bind the same way.
    const euText = formatVerifierKey(verifierOf(euKey));
    const usText = formatVerifierKey(verifierOf(usKey));
    expect((await cli(['verify-proof', forged, '--key', `${EU}=${euText}`, '--key', `${US}=${usText}`])).code).toBe(1);
    expect((await cli(['verify-proof', euBundle, '--key', `${EU}=${euText}`, '--key', `${US}=${usText}`])).code).toBe(0);
    expect((await cli(['verify-proof', forged], { HWL_CHECKPOINT_PUBKEYS: `${EU}=${euPub},${US}=${usPub}` })).code).toBe(1);
    expect((await cli(['verify-proof', usBundle], { HWL_CHECKPOINT_PUBKEYS: `${EU}=${euPub},${US}=${usPub}` })).code).toBe(0);
  });

  it('refuses several unbound keys without --chain (exit 2) instead of trusting any key for any chain', async () => {
    const r = await cli(['verify-proof', forged, '--key', euPub, '--key', usPub]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/CONFIG: verify-proof has several keys and no --chain: bind each key to the chain it signs for \(--key CHAIN=KEY/);
    expect((await cli(['verify-proof', euBundle, '--key', euPub, '--key', usPub])).code).toBe(2);
    // A bound key plus an unbound one is ambiguous too.
    expect((await cli(['verify-proof', forged, '--key', `${EU}=${euPub}`, '--key', usPub])).code).toBe(2);
  });

  it('--chain trusts unbound keys for that chain only; one unbound key alone works as before', async () => {
    expect((await cli(['verify-proof', forged, '--chain', EU, '--key', euPub])).code).toBe(1);
    expect((await cli(['verify-proof', euBundle, '--chain', EU, '--key', euPub])).code).toBe(0);
    const other = await cli(['verify-proof', usBundle, '--chain', EU, '--key', usPub]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/bundle is for chain us-east-1, expected eu-west-1/);
    expect((await cli(['verify-proof', euBundle, '--key', euPub])).code).toBe(0);
    expect((await cli(['verify-proof', forged, '--key', euPub])).code).toBe(1);
    // The same key given twice (flag and environment) is one key.
    expect((await cli(['verify-proof', euBundle, '--key', euPub], { HWL_CHECKPOINT_PUBKEYS: euPub })).code).toBe(0);
  });
});

describe('fleet-anchor and verify --fleet with keys bound to regions', () => {
  const broker = useNatsServer({ clientName: 'key-binding-e2e' });
  beforeAll(async () => {
    for (const [chain, key] of [[EU, euKey], [US, usKey]] as const) {
      const w = await ChainWriter.open(broker.nc, chain);
      await w.append(120);
      await checkpointWriter(broker.nc, w, key, 50);
    }
  });
  const nats = (): string[] => ['--nats', broker.url];

  it('refuses unbound keys over two regions, anchors and verifies with bound ones', async () => {
    const unbound = await cli(['fleet-anchor', ...nats(), '--chains', `${EU},${US}`, '--fleet', 'kb', '--key', euPub, '--key', usPub, '--once']);
    expect(unbound.code).toBe(2);
    expect(unbound.stderr).toMatch(/CONFIG: the fleet anchorer of kb covers several chains \(eu-west-1, us-east-1\)/);
    const bound = ['--key', `${EU}=${euPub}`, '--key', `${US}=${usPub}`];
    const a = await cli(['fleet-anchor', ...nats(), '--chains', `${EU},${US}`, '--fleet', 'kb', ...bound, '--once']);
    expect(a.stderr).toBe('');
    expect(a.stdout).toBe('fleet kb: anchored 2 region checkpoints\n');
    const v = await cli(['verify', ...nats(), '--fleet', 'kb', ...bound]);
    expect(v.stdout).toMatch(/fleet kb: 2 entries, hash links and signatures verified/);
    expect(v.code).toBe(0);
    const vu = await cli(['verify', ...nats(), '--fleet', 'kb', '--key', euPub, '--key', usPub]);
    expect(vu.code).toBe(2);
    expect(vu.stderr).toMatch(/CONFIG: fleet kb covers several chains/);
    // Keys bound the wrong way round verify nothing.
    const crossed = await cli(['verify', ...nats(), '--fleet', 'kb', '--key', `${US}=${euPub}`, '--key', `${EU}=${usPub}`]);
    expect(crossed.code).toBe(1);
    expect(crossed.stdout).toMatch(/FAILED at entry 1: bad_signature/);
  });
});
