/**
 * The built CLI end to end: `hwledger api keygen` writes a key file,
 * `hwledger api` serves it (ports 0, printed on stdout), and `hwledger
 * tenants`, `trail`, `cost`, `reconcile` answer with --json over HTTP and over
 * gRPC, with the access rules and exit codes (1 denied / not verified, 2 no
 * key or no API). Needs `npx tsc -b` (npm test builds first).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '@hwledger/chain';
import { runCli, spawnCli, waitFor } from '@hwledger/testkit';
import { CHAIN, startFixture, type Fixture } from './helpers/fixture.js';

let fx: Fixture;
let dir: string;
let server: ChildProcess;
let urls: { http: string; grpc: string };
const keys: Record<'operator' | 't47', string> = { operator: '', t47: '' };
let serverStderr = '';

async function keygen(args: string[]): Promise<string> {
  const r = await runCli(['api', 'keygen', ...args, '--json']);
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { key: string; entry: { sha256: string } };
  expect(out.key).toMatch(/^hwl_/);
  return out.key;
}

beforeAll(async () => {
  fx = await startFixture({ api: false });
  dir = mkdtempSync(join(tmpdir(), 'hwl-api-cli-'));
  const file = join(dir, 'keys.json');
  keys.operator = await keygen(['--role', 'operator', '--id', 'ops', '--append', file]);
  keys.t47 = await keygen(['--role', 'tenant', '--tenant', '47', '--append', file]);
  const stored = readFileSync(file, 'utf8');
  expect(stored).not.toContain(keys.operator);
  expect(stored).not.toContain(keys.t47);

  server = spawnCli(['api', '--db', fx.db.url, '--nats', fx.nats.url, '--chain', CHAIN, '--http-port', '0', '--grpc-port', '0', '--keys', file]);
  let stdout = '';
  server.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  server.stderr?.on('data', (d: Buffer) => (serverStderr += d.toString()));
  const line = await waitFor(() => /api listening http=(\S+) grpc=(\S+)/.exec(stdout), 30_000, 50, 'hwledger api to listen');
  urls = { http: line[1]!, grpc: `grpc://${line[2]!}` };
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  await fx?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], key: string | undefined, api: string): Promise<{ code: number | null; json: unknown; stdout: string; stderr: string }> {
  const r = await runCli([...args, '--api', api], { env: { HWL_API_KEY: key ?? '', HWL_API_URL: '' } });
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { code: r.code, json, stdout: r.stdout, stderr: r.stderr };
}

describe.each(['http', 'grpc'] as const)('CLI over %s', (transport) => {
  const api = (): string => urls[transport];

  it('hwledger tenants --json: every tenant for an operator, its own for a tenant key', async () => {
    const all = await cli(['tenants', '--json'], keys.operator, api());
    expect(all.code).toBe(0);
    const tenants = (all.json as { tenants: { tenant: string; costMicroUsd: string; tokens: string }[] }).tenants;
    expect(tenants.map((t) => t.tenant)).toEqual(['47', '52']);
    expect(tenants[0]).toMatchObject({ tenant: '47', tokens: '651', costMicroUsd: '123652' });
    const own = await cli(['tenants', '47', '--json', '--from', '2026-11-19T00:00:00Z'], keys.t47, api());
    expect(own.code).toBe(0);
    expect(own.json).toMatchObject({ tenant: '47', chainId: CHAIN });
    const other = await cli(['tenants', '52', '--json'], keys.t47, api());
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/PERMISSION_DENIED/);
    const text = await cli(['tenants'], keys.operator, api());
    expect(text.stdout).toMatch(/^tenant\s+requests/m);
  });

  it('hwledger trail KEY --json: records with hashes, all verified', async () => {
    const r = await cli(['trail', 'job-a', '--json'], keys.t47, api());
    expect(r.code).toBe(0);
    const out = r.json as { allVerified: boolean; records: { sequence: string; hash: string; verification: { verified: boolean } }[] };
    expect(out.allVerified).toBe(true);
    const expected = fx.sealed.filter((s) => s.record.instanceId === 'job-a');
    expect(out.records.map((x) => [x.sequence, x.hash])).toEqual(expected.map((s) => [s.record.sequence.toString(), toHex(s.hash)]));
    const text = await cli(['trail', 'gpu-3'], keys.operator, api());
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/26 record\(s\) of "gpu-3".*all verify/);
    expect((await cli(['trail', 'gpu-3'], keys.t47, api())).code).toBe(1);
  });

  it('hwledger cost --json: fleet and device with dispatch history; operator only', async () => {
    const fleet = await cli(['cost', '--json'], keys.operator, api());
    expect(fleet.code).toBe(0);
    expect(fleet.json).toMatchObject({ summary: { jobs: '3', totalCostMicroUsd: '161510', averageCostPerJobMicroUsd: '53837' } });
    const dev = await cli(['cost', '--device', 'gpu-3', '--dispatches', '30', '--json'], keys.operator, api());
    expect(dev.code).toBe(0);
    expect((dev.json as { dispatches: unknown[] }).dispatches).toHaveLength(25);
    const denied = await cli(['cost', '--json'], keys.t47, api());
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/PERMISSION_DENIED/);
  });

  it('hwledger reconcile [JOB] --json: one job, or the flagged jobs and the fleet view', async () => {
    const job = await cli(['reconcile', 'job-b', '--json'], keys.operator, api());
    expect(job.code).toBe(0);
    expect(job.json).toMatchObject({ jobId: 'job-b', vramVariancePct: 50, predictedVramMib: '20000', actualVramMib: '30000' });
    const fleet = await cli(['reconcile', '--json', '--flag', 'orphan_completion'], keys.operator, api());
    expect(fleet.code).toBe(0);
    const out = fleet.json as { flagged: { jobId: string }[]; fleet: unknown[] };
    expect(out.flagged.map((f) => f.jobId)).toEqual(['job-orphan']);
    expect(out.fleet.length).toBeGreaterThan(0);
    const text = await cli(['reconcile', 'job-b'], keys.operator, api());
    expect(text.stdout).toMatch(/vram_variance/);
  });

  it('exits 2 without a key and 2 when the API cannot be reached', async () => {
    const none = await cli(['tenants', '--json'], undefined, api());
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/UNAUTHENTICATED/);
    const down = await cli(['tenants'], keys.operator, transport === 'http' ? 'http://127.0.0.1:1' : 'grpc://127.0.0.1:1');
    expect(down.code).toBe(2);
  });
});

describe('hwledger api', () => {
  it('never logs a key', () => {
    expect(serverStderr).not.toContain(keys.operator);
    expect(serverStderr).not.toContain(keys.t47);
  });

  it('stops on SIGTERM with exit code 0', async () => {
    const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('refuses to start without a key file', async () => {
    const r = await runCli(['api', '--db', fx.db.url, '--chain', CHAIN, '--http-port', '0', '--grpc-port', '0'], { env: { HWL_API_KEYS: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no API keys/);
  });
});
