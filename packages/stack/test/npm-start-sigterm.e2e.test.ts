/**
 * docs/operations.md promises that SIGTERM to `npm start` stops everything.
 * `kill <pid of npm start>` (or `timeout N npm start`, a process manager,
 * `docker stop` of `npm start`) reached npm and its `sh -c`, which exited,
 * but never the runner: the runner, nats-server, Postgres and every service
 * were left running, re-parented to init (found by a review helper). The
 * start script now ends in `exec node …`, so npm's signal reaches the runner.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { freePort } from '@hwledger/testkit';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const home = mkdtempSync(join(tmpdir(), 'hwl-npm-start-sigterm-'));
let runnerPid: number | undefined;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

afterAll(async () => {
  // If the runner outlived npm (the defect), stop it: it stops its children.
  if (runnerPid !== undefined && alive(runnerPid)) {
    process.kill(runnerPid, 'SIGTERM');
    for (let i = 0; i < 60 && alive(runnerPid); i++) await new Promise((r) => setTimeout(r, 1000));
  }
  rmSync(home, { recursive: true, force: true });
}, 90_000);

it('SIGTERM to `npm start` stops the runner and every child', async () => {
  const port = async (): Promise<string> => String(await freePort());
  const ports = { HWL_NATS_PORT: await port(), HWL_PG_PORT: await port(), HWL_HTTP_PORT: await port(), HWL_GRPC_PORT: await port(), HWL_METRICS_PORT: await port() };
  const npm = spawn('npm', ['start'], {
    cwd: ROOT,
    env: { ...process.env, HWL_HOME: home, ...ports, HWL_SIM_RATE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own group, like a terminal's foreground job
  });
  let out = '';
  npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
  npm.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const npmExited = new Promise<void>((r) => npm.once('exit', () => r()));
  for (let i = 0; i < 150 && !out.includes('Press Ctrl-C'); i++) await new Promise((r) => setTimeout(r, 1000));
  expect(out).toContain('Press Ctrl-C');
  const info = JSON.parse(readFileSync(join(home, 'stack.json'), 'utf8')) as { pid: number; natsPid: number; postgresPid: number; services: { pid: number }[] };
  runnerPid = info.pid;
  const pids = [info.pid, info.natsPid, info.postgresPid, ...info.services.map((s) => s.pid)];

  process.kill(npm.pid!, 'SIGTERM');
  await npmExited;
  // The runner stops a stack in ~7 s; give it 30.
  for (let i = 0; i < 30 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 1000));
  expect(pids.filter(alive)).toEqual([]);
  expect(existsSync(join(home, 'stack.pid'))).toBe(false);
}, 240_000);
