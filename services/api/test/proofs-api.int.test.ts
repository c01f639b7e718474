/**
 * Checkpoints, proofs and the fleet anchor through the query API (issue 6
 * "the API and CLI return an inclusion proof ... and a consistency proof";
 * "Dashboard and API show checkpoints, their signatures' validity, the fleet
 * anchor and the last replication and archive"), over a real grpc-js client
 * and over HTTP, against a real nats-server (signed checkpoints written by
 * the real Checkpointer) and a real Postgres:
 *
 * - every bundle the API returns verifies offline with the verifier key alone;
 * - signature validity: valid under the configured key, unknown for a key the
 *   API was not given, and a checkpoint it cannot verify is never served as a proof;
 * - access: operator only for checkpoints, consistency and the fleet anchor; a
 *   tenant key gets inclusion proofs of its own tenant's records only;
 * - bad input answers 400 / INVALID_ARGUMENT or 404 / NOT_FOUND, never 500;
 * - `hwledger prove --api` writes the same bundle, and `verify-proof` accepts it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatVerifierKey, generateSigner, merkleRoot, toHex, verifierOf } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';
import { runCli, useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { CheckpointLog, FleetAnchorer, archiveChain, replicateToGit, INCLUSION_BUNDLE, CONSISTENCY_BUNDLE, parseProofBundle, verifyProofBundle } from '@hwledger/ledger-ops';
import { createApiClient, generateKey, startApi, type ApiClient, type RunningApi } from '@hwledger/api';
import { ChainWriter, checkpointWriter } from '../../../packages/ledger-ops/test/chain-fixture.js';

const CHAIN = 'pa-1';
/** A chain whose checkpoints are signed by a key the API was not given. */
const FOREIGN = 'pa-2';
/** A chain with records and no checkpoint yet. */
const BARE = 'pa-3';
/** A chain replicated to git and archived up to a checkpoint. */
const OPS = 'pa-4';
const FLEET = 'f1';

const trustedSigner = generateSigner('hwl-api-test');
const foreignSigner = generateSigner('hwl-elsewhere');
const trusted = verifierOf(trustedSigner);

const nats = useNatsServer({ clientName: 'proofs-api-test' });
const db = useTestDatabase({ prefix: 'hwl_proofs_api' });
let api: RunningApi;
let noNats: RunningApi;
let writer: ChainWriter;
let ops: ChainWriter;
let opsCut = 0n;
const dir = mkdtempSync(join(tmpdir(), 'hwl-proofs-api-'));
const keys = {
  operator: generateKey({ role: 'operator', id: 'ops' }),
  // testEvent(i): tenants cycle acme, globex, initech by i % 3; every fifth (i % 5 == 4) is telemetry with no tenant.
  acme: generateKey({ role: 'tenant', tenant: 'acme', id: 'acme' }),
};
type Who = 'operator' | 'acme' | 'none';
const clients: Record<'http' | 'grpc', Record<Who, ApiClient>> = { http: {} as Record<Who, ApiClient>, grpc: {} as Record<Who, ApiClient> };

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    if (e instanceof HwlError) return e.code;
    throw e;
  }
}

beforeAll(async () => {
  writer = await ChainWriter.open(nats.nc, CHAIN);
  await writer.append(1_200);
  await checkpointWriter(nats.nc, writer, trustedSigner, 500); // checkpoints at 500, 1000, 1200
  const foreign = await ChainWriter.open(nats.nc, FOREIGN);
  await foreign.append(50);
  await checkpointWriter(nats.nc, foreign, foreignSigner, 50);
  await (await ChainWriter.open(nats.nc, BARE)).append(10);
  ops = await ChainWriter.open(nats.nc, OPS);
  await ops.append(600);
  await checkpointWriter(nats.nc, ops, trustedSigner, 200); // about every 200 records (later when one is still being published), and at 600
  const repl = await replicateToGit({ nc: nats.nc, chainId: OPS, dir: join(dir, 'replica'), batch: 250, trusted: [trusted] });
  expect(repl.head).toBe(600n);
  // Archive up to the second checkpoint, wherever it fell.
  opsCut = (await (await CheckpointLog.open(nats.nc, OPS)).get(2))!.checkpoint.sequence;
  expect(opsCut).toBeLessThan(600n);
  const arch = await archiveChain({ nc: nats.nc, chainId: OPS, dir: join(dir, 'archive'), olderThanMs: 0, upto: opsCut, trusted: [trusted] });
  expect(arch.cut).toBe(opsCut);
  const anchorer = new FleetAnchorer({ nc: nats.nc, fleet: FLEET, chains: [CHAIN], trusted: [trusted] });
  await anchorer.load();
  expect(await anchorer.tick()).toBe(1);

  const entries = [keys.operator.entry, keys.acme.entry];
  api = await startApi({
    databaseUrl: db.db.url,
    chainId: CHAIN,
    keys: entries,
    natsUrl: nats.url,
    checkpointKeys: [trusted],
    treeDir: join(dir, 'merkle'),
    fleet: FLEET,
    httpPort: 0,
    grpcPort: 0,
  });
  noNats = await startApi({ databaseUrl: db.db.url, chainId: CHAIN, keys: entries, httpPort: 0 });
  const urls = { http: api.http!.url, grpc: `grpc://${api.grpc!.address}` };
  for (const t of ['http', 'grpc'] as const) {
    clients[t] = {
      operator: createApiClient(urls[t], keys.operator.key),
      acme: createApiClient(urls[t], keys.acme.key),
      none: createApiClient(urls[t], undefined),
    };
  }
}, 120_000);

afterAll(async () => {
  for (const t of Object.values(clients)) for (const c of Object.values(t)) c.close();
  await api?.close();
  await noNats?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(['http', 'grpc'] as const)('over %s', (transport) => {
  const c = (who: Who): ApiClient => clients[transport][who];

  it('lists the signed checkpoints newest first, with signature validity under the configured key, paginated', async () => {
    const r = await c('operator').getCheckpoints({ chainId: CHAIN, pageSize: 2 });
    expect(r.chainId).toBe(CHAIN);
    expect(r.checkpointCount).toBe(3n);
    expect(r.trustedKeys).toEqual([`${trusted.name}+${toHex(trusted.keyId)}`]);
    expect(r.latest?.sequence).toBe(1_200n);
    expect(r.latest?.validity).toBe('valid');
    expect(r.latest?.rootHash).toBe(toHex(merkleRoot(writer.hashes.slice(0, 1_200))));
    expect(r.latest?.headHash).toBe(toHex(writer.hashes[1_199]!));
    expect(r.checkpoints.map((x) => x.sequence)).toEqual([1_200n, 1_000n]);
    for (const cp of r.checkpoints) {
      expect(cp.validity).toBe('valid');
      expect(cp.signatures).toEqual([{ keyName: trusted.name, keyId: toHex(trusted.keyId), validity: 'valid' }]);
      expect(cp.note).toContain(`\n${cp.sequence}\n`);
    }
    expect(r.nextPageToken).not.toBe('');
    const p2 = await c('operator').getCheckpoints({ chainId: CHAIN, pageSize: 2, pageToken: r.nextPageToken });
    expect(p2.checkpoints.map((x) => x.sequence)).toEqual([500n]);
    expect(p2.nextPageToken).toBe('');
    expect(r.archiveAnchor).toBeUndefined();
    expect(r.lastArchive).toBeUndefined();
    expect(r.lastReplication).toBeUndefined();
    // The default chain (the API's --chain) answers the same.
    expect((await c('operator').getCheckpoints({})).latest?.sequence).toBe(1_200n);
  });

  it('reports the last replication and archive runs and the archive anchor of a chain', async () => {
    const r = await c('operator').getCheckpoints({ chainId: OPS });
    expect(r.latest?.sequence).toBe(600n);
    expect(r.archiveAnchor?.sequence).toBe(opsCut);
    expect(r.archiveAnchor?.hash).toBe(toHex(ops.hashes[Number(opsCut) - 1]!));
    expect(r.lastArchive).toMatchObject({ dir: join(dir, 'archive'), cut: opsCut, purged: opsCut, deletedRows: 0n });
    expect(r.lastArchive!.segments).toBeGreaterThanOrEqual(1n);
    expect(r.lastArchive!.atMs).toBeGreaterThan(0n);
    expect(r.lastReplication).toMatchObject({ dir: join(dir, 'replica'), lastSequence: 600n, lastCheckpoint: 600n });
    expect(r.lastReplication!.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(r.lastReplication!.atMs).toBeGreaterThan(0n);
  });

  it('reports a signature by a key it was not given as unknown, and never serves a proof it cannot verify', async () => {
    const r = await c('operator').getCheckpoints({ chainId: FOREIGN });
    expect(r.latest?.sequence).toBe(50n);
    expect(r.latest?.validity).toBe('unknown');
    expect(r.latest?.signatures.map((s) => [s.keyName, s.validity])).toEqual([[foreignSigner.name, 'unknown']]);
    expect(await codeOf(c('operator').getInclusionProof({ chainId: FOREIGN, sequence: 3n }))).toBe('INTEGRITY');
  });

  it('returns an inclusion proof bundle that verifies offline with the verifier key alone', async () => {
    const r = await c('operator').getInclusionProof({ chainId: CHAIN, sequence: 7n, checkpointSize: 1_000n });
    expect(r.sequence).toBe(7n);
    expect(r.treeSize).toBe(1_000n);
    expect(r.tenant).toBe('globex');
    expect(r.verifiedBy).toEqual([trusted.name]);
    const bundle = parseProofBundle(JSON.stringify(r.bundle));
    expect(bundle.type).toBe(INCLUSION_BUNDLE);
    const v = verifyProofBundle(bundle, [trusted]);
    expect(v.verifiedBy).toEqual([trusted.name]);
    if (bundle.type !== INCLUSION_BUNDLE) throw new Error('unreachable');
    expect(bundle.record.hash).toBe(toHex(writer.hashes[6]!));
    // Against the latest checkpoint (0 / absent).
    const latest = await c('operator').getInclusionProof({ chainId: CHAIN, sequence: 1_200n });
    expect(latest.treeSize).toBe(1_200n);
    expect(() => verifyProofBundle(parseProofBundle(JSON.stringify(latest.bundle)), [trusted])).not.toThrow();
    // The same bundle under another key is refused offline.
    expect(() => verifyProofBundle(bundle, [verifierOf(foreignSigner)])).toThrow();
  });

  it('returns a consistency proof bundle between two checkpoints that verifies offline', async () => {
    const r = await c('operator').getConsistencyProof({ chainId: CHAIN, fromSize: 500n, toSize: 1_200n });
    expect([r.fromSize, r.toSize]).toEqual([500n, 1_200n]);
    const bundle = parseProofBundle(JSON.stringify(r.bundle));
    expect(bundle.type).toBe(CONSISTENCY_BUNDLE);
    expect(verifyProofBundle(bundle, [trusted]).verifiedBy).toEqual([trusted.name]);
    const toLatest = await c('operator').getConsistencyProof({ chainId: CHAIN, fromSize: 1_000n });
    expect(toLatest.toSize).toBe(1_200n);
  });

  it('reports the fleet anchor: its head and the newest anchored checkpoint of each region', async () => {
    const r = await c('operator').getFleetStatus({});
    expect(r.fleet).toBe(FLEET);
    expect(r.entries).toBe(1n);
    expect(r.head?.index).toBe(1n);
    expect(r.head?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(r.regions.map((x) => [x.chainId, x.sequence])).toEqual([[CHAIN, 1_200n]]);
    expect((await c('operator').getFleetStatus({ fleet: FLEET })).entries).toBe(1n);
    expect(await codeOf(c('operator').getFleetStatus({ fleet: 'nope' }))).toBe('NOT_FOUND');
    expect(await codeOf(c('operator').getFleetStatus({ fleet: 'bad name!' }))).toBe('INVALID_ARGUMENT');
  });

  it('gives a tenant key inclusion proofs of its own records only; everything else is operator only', async () => {
    const own = await c('acme').getInclusionProof({ chainId: CHAIN, sequence: 3n }); // testEvent(3): acme
    expect(own.tenant).toBe('acme');
    expect(() => verifyProofBundle(parseProofBundle(JSON.stringify(own.bundle)), [trusted])).not.toThrow();
    expect(await codeOf(c('acme').getInclusionProof({ chainId: CHAIN, sequence: 1n }))).toBe('PERMISSION_DENIED'); // globex
    expect(await codeOf(c('acme').getInclusionProof({ chainId: CHAIN, sequence: 4n }))).toBe('PERMISSION_DENIED'); // telemetry, no tenant
    expect(await codeOf(c('acme').getCheckpoints({ chainId: CHAIN }))).toBe('PERMISSION_DENIED');
    expect(await codeOf(c('acme').getConsistencyProof({ chainId: CHAIN, fromSize: 500n, toSize: 1_000n }))).toBe('PERMISSION_DENIED');
    expect(await codeOf(c('acme').getFleetStatus({}))).toBe('PERMISSION_DENIED');
    expect(await codeOf(c('none').getInclusionProof({ chainId: CHAIN, sequence: 3n }))).toBe('UNAUTHENTICATED');
    expect(await codeOf(c('none').getCheckpoints({ chainId: CHAIN }))).toBe('UNAUTHENTICATED');
  });

  it('answers bad input with INVALID_ARGUMENT or NOT_FOUND and a message', async () => {
    const op = c('operator');
    expect(await codeOf(op.getInclusionProof({ chainId: CHAIN, sequence: 0n }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(op.getInclusionProof({ chainId: CHAIN, sequence: 600n, checkpointSize: 500n }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(op.getInclusionProof({ chainId: CHAIN, sequence: 5n, checkpointSize: 700n }))).toBe('NOT_FOUND'); // no checkpoint at 700
    expect(await codeOf(op.getInclusionProof({ chainId: CHAIN, sequence: 5_000n }))).toBe('NOT_FOUND'); // beyond the latest
    expect(await codeOf(op.getInclusionProof({ chainId: 'bad chain!', sequence: 1n }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(op.getInclusionProof({ chainId: 'no-such-chain', sequence: 1n }))).toBe('NOT_FOUND');
    expect(await codeOf(op.getInclusionProof({ chainId: BARE, sequence: 1n }))).toBe('NOT_FOUND');
    expect(await codeOf(op.getConsistencyProof({ chainId: CHAIN, fromSize: 0n, toSize: 500n }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(op.getConsistencyProof({ chainId: CHAIN, fromSize: 1_000n, toSize: 500n }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(op.getConsistencyProof({ chainId: CHAIN, fromSize: 700n, toSize: 1_000n }))).toBe('NOT_FOUND');
    expect(await codeOf(op.getCheckpoints({ chainId: CHAIN, pageToken: 'garbage' }))).toBe('INVALID_ARGUMENT');
    // A chain with records and no checkpoint yet: an empty list, not an error.
    const bare = await op.getCheckpoints({ chainId: BARE });
    expect([bare.checkpointCount, bare.latest, bare.checkpoints]).toEqual([0n, undefined, []]);
  });
});

describe('over HTTP, by status code', () => {
  const get = async (path: string, key = keys.operator.key): Promise<{ status: number; body: { code?: string; message?: string } }> => {
    const res = await fetch(`${api.http!.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
  };

  it('answers 400, 403 and 404 with a code and a message, never 500', async () => {
    const cases: [string, number, string, string?][] = [
      [`/v1/chains/${CHAIN}/proofs/inclusion?sequence=abc`, 400, 'INVALID_ARGUMENT'],
      [`/v1/chains/${CHAIN}/proofs/inclusion?sequence=18446744073709551616`, 400, 'INVALID_ARGUMENT'],
      [`/v1/chains/${CHAIN}/proofs/inclusion?sequence=1&checkpoint=-1`, 400, 'INVALID_ARGUMENT'],
      [`/v1/chains/${CHAIN}/proofs/inclusion?sequence=1&bogus=1`, 400, 'INVALID_ARGUMENT'],
      [`/v1/chains/${CHAIN}/proofs/consistency?from=x&to=latest`, 400, 'INVALID_ARGUMENT'],
      [`/v1/chains/${CHAIN}/checkpoints?page_size=0x10`, 400, 'INVALID_ARGUMENT'],
      [`/v1/chains/${CHAIN}/proofs/inclusion?sequence=9999`, 404, 'NOT_FOUND'],
      [`/v1/chains/nope/checkpoints`, 404, 'NOT_FOUND'],
      [`/v1/fleet/nope/status`, 404, 'NOT_FOUND'],
      [`/v1/chains/${CHAIN}/checkpoints`, 403, 'PERMISSION_DENIED', keys.acme.key],
      [`/v1/chains/${CHAIN}/proofs/inclusion?sequence=1`, 403, 'PERMISSION_DENIED', keys.acme.key],
    ];
    for (const [path, status, code, key] of cases) {
      const r = await get(path, key);
      expect([path, r.status, r.body.code], JSON.stringify(r.body)).toEqual([path, status, code]);
      expect(r.body.message, path).toMatch(/\S/);
    }
    const ok = await get(`/v1/chains/${CHAIN}/proofs/consistency?from=500&to=latest`);
    expect(ok.status).toBe(200);
  });

  it('without NATS, answers FAILED_PRECONDITION (400) saying what is missing', async () => {
    const res = await fetch(`${noNats.http!.url}/v1/chains/${CHAIN}/checkpoints`, { headers: { authorization: `Bearer ${keys.operator.key}` } });
    const body = (await res.json()) as { code: string; message: string };
    expect(res.status).toBe(400);
    expect(body.code).toBe('FAILED_PRECONDITION');
    expect(body.message).toMatch(/NATS/);
  });
});

describe('hwledger prove --api', () => {
  it('writes the bundle from the API (HTTP and gRPC), verified with --key; verify-proof accepts it offline', async () => {
    const pub = join(dir, 'trusted.pub');
    writeFileSync(pub, formatVerifierKey(trusted) + '\n');
    const env = { HWL_API_KEY: keys.operator.key };
    for (const url of [api.http!.url, `grpc://${api.grpc!.address}`]) {
      const out = join(dir, `bundle-${url.startsWith('grpc') ? 'grpc' : 'http'}.json`);
      const r = await runCli(['prove', '--api', url, '--chain', CHAIN, '--seq', '42', '--checkpoint', '1000', '--key', pub, '--out', out], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/inclusion of record 42 in the checkpoint at 1000/);
      const v = await runCli(['verify-proof', out, '--key', pub]);
      expect(v.code, v.stderr).toBe(0);
    }
    // A key the bundle is not signed with: refused before anything is written.
    const other = join(dir, 'other.pub');
    writeFileSync(other, formatVerifierKey(verifierOf(foreignSigner)) + '\n');
    const refused = await runCli(['prove', '--api', api.http!.url, '--chain', CHAIN, '--seq', '42', '--key', other, '--out', join(dir, 'refused.json')], { env });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/signature|key/i);
  });
});
