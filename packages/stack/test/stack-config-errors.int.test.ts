/**
 * Bad configuration of `npm start` (the built runner, as a user runs it):
 * one line on stderr naming the setting and what to do, a non-zero exit,
 * no stack trace, and nothing started (no nats-server, no Postgres, no
 * service: HWL_HOME gets no logs and the ports stay free).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '@hwledger/testkit';

const RUNNER = fileURLToPath(new URL('../bin/hwledger-stack.js', import.meta.url));
const homes: string[] = [];
const servers: Server[] = [];

afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

/** The first port of `n` consecutive ports that all bind now, between 20,000 and 30,000 (outside Linux's ephemeral 32768-60999). */
async function freePortBlock(n: number): Promise<number> {
  const binds = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (10_000 - n));
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await binds(p);
    if (ok) return base;
  }
  throw new Error(`no block of ${n} free ports found`);
}

async function isolatedEnv(extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
  const home = mkdtempSync(join(tmpdir(), 'hwl-stack-cfg-'));
  homes.push(home);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('HWL_') || k === 'NATS_URL' || k === 'DATABASE_URL' || k === 'NATS_SERVER_BIN') delete env[k];
  const base = await freePortBlock(32);
  return {
    ...env,
    HWL_HOME: home,
    HWL_NATS_PORT: String(await freePort()),
    HWL_PG_PORT: String(await freePort()),
    HWL_HTTP_PORT: String(await freePort()),
    HWL_GRPC_PORT: String(await freePort()),
    // Metrics ports: a block of ports all free now, below the kernel's ephemeral range (other tests' connections).
    HWL_METRICS_PORT: String(base),
    ...extra,
  };
}

function run(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [RUNNER], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** One line naming `setting`, with `hint`, exit 2, no trace, nothing started. */
async function expectConfigError(env: NodeJS.ProcessEnv, setting: string, hint: RegExp): Promise<string> {
  const r = await run(env);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines, r.stderr).toHaveLength(1);
  const line = lines[0]!;
  expect(line.startsWith(`hwledger start: ${setting}: `), line).toBe(true);
  expect(line).toMatch(hint);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.code).toBe(2);
  const home = env['HWL_HOME']!;
  expect(existsSync(join(home, 'logs')), 'no service was started').toBe(false);
  expect(existsSync(join(home, 'nats')), 'no nats-server was started').toBe(false);
  expect(existsSync(join(home, 'pg')), 'no Postgres was started').toBe(false);
  return line;
}

describe('npm start refuses bad configuration in one line', () => {
  it('NATS_URL unreachable', async () => {
    const port = await freePort();
    await expectConfigError(await isolatedEnv({ NATS_URL: `nats://127.0.0.1:${port}` }), 'NATS_URL', /cannot reach nats:\/\/127\.0\.0\.1:\d+.*unset NATS_URL/);
  });

  it('DATABASE_URL unreachable (with the password redacted), before any nats-server starts', async () => {
    const port = await freePort();
    const line = await expectConfigError(await isolatedEnv({ DATABASE_URL: `postgres://postgres:s3cret@127.0.0.1:${port}/hwledger` }), 'DATABASE_URL', /cannot use postgres:\/\/postgres:\*\*\*@127\.0\.0\.1.*unset DATABASE_URL/);
    expect(line).not.toContain('s3cret');
  });

  it('a port in use', async () => {
    const env = await isolatedEnv();
    const srv = createServer();
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(Number(env['HWL_HTTP_PORT']), '127.0.0.1', () => r()));
    await expectConfigError(env, 'HWL_HTTP_PORT', new RegExp(`port ${env['HWL_HTTP_PORT']} \\(HWL_HTTP_PORT \\(API and dashboard\\)\\) is in use: stop what uses it, or set HWL_HTTP_PORT to a free port`));
  });

  it('a port that is not a number, and two settings on one port', async () => {
    await expectConfigError(await isolatedEnv({ HWL_GRPC_PORT: 'nine' }), 'HWL_GRPC_PORT', /"nine" is not a port number/);
    const env = await isolatedEnv();
    await expectConfigError({ ...env, HWL_GRPC_PORT: env['HWL_HTTP_PORT'] }, 'HWL_GRPC_PORT', /is given to both HWL_HTTP_PORT/);
  });

  it('a missing API key file', async () => {
    await expectConfigError(await isolatedEnv({ HWL_API_KEYS: '/nonexistent/keys.json' }), 'HWL_API_KEYS', /key file \/nonexistent\/keys\.json does not exist: make one with `npx hwledger api keygen/);
  });

  it('a malformed API key file', async () => {
    const env = await isolatedEnv();
    const f = join(env['HWL_HOME']!, 'keys.json');
    writeFileSync(f, '{"not":"an array"}');
    await expectConfigError({ ...env, HWL_API_KEYS: f }, 'HWL_API_KEYS', /expected a JSON array/);
  });

  it('a missing checkpoint key file', async () => {
    await expectConfigError(await isolatedEnv({ HWL_CHECKPOINT_KEY: 'no-such.key' }), 'HWL_CHECKPOINT_KEY', /no-such\.key does not exist: make one with `npx hwledger checkpoint keygen/);
  });

  it('an unknown chain id, and an invalid one', async () => {
    await expectConfigError(await isolatedEnv({ HWL_CHAIN_ID: 'ap-south-9' }), 'HWL_CHAIN_ID', /unknown chain id "ap-south-9": the stack runs eu-west-1, us-east-1/);
    await expectConfigError(await isolatedEnv({ HWL_CHAINS: 'eu-west-1,us east 1' }), 'HWL_CHAINS', /chain id "us east 1" is invalid/);
  });

  it('no nats-server to start', async () => {
    await expectConfigError(await isolatedEnv({ NATS_SERVER_BIN: '/nonexistent/nats-server' }), 'NATS_SERVER_BIN', /is not an executable nats-server: install nats-server \(Debian\/Ubuntu: `sudo apt-get install nats-server`/);
  });

  it('a malformed URL', async () => {
    await expectConfigError(await isolatedEnv({ DATABASE_URL: 'localhost:5432' }), 'DATABASE_URL', /scheme localhost: is not supported|is not a URL/);
  });

  it('a second npm start on the same HWL_HOME names the running one, not a port it holds', async () => {
    // The first stack: its pid in HWL_HOME/stack.pid (a live process), its HTTP port taken.
    const env = await isolatedEnv();
    const first = spawn('sleep', ['60']);
    const port = createServer();
    servers.push(port);
    await new Promise<void>((r) => port.listen(Number(env['HWL_HTTP_PORT']), '127.0.0.1', () => r()));
    try {
      writeFileSync(join(env['HWL_HOME']!, 'stack.pid'), `${first.pid}\n`);
      // Before (found in a review): "HWL_HTTP_PORT: port … in use", the home's lock was checked after the ports.
      await expectConfigError(env, 'HWL_HOME', new RegExp(`another npm start \\(pid ${first.pid}\\) is running on`));
      expect(readFileSync(join(env['HWL_HOME']!, 'stack.pid'), 'utf8').trim()).toBe(String(first.pid)); // left to its owner
    } finally {
      first.kill('SIGKILL');
    }
  });

  it('a start refused by its checks leaves no lock behind', async () => {
    const env = await isolatedEnv({ NATS_URL: `nats://127.0.0.1:${await freePort()}` }); // refused by preflight, after the lock
    await expectConfigError(env, 'NATS_URL', /cannot reach/);
    expect(existsSync(join(env['HWL_HOME']!, 'stack.pid'))).toBe(false);
  });
});

