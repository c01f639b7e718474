/**
 * Services stop on SIGTERM even when the broker is gone (issue 5: "stops
 * everything cleanly"; Kubernetes sends SIGTERM and kills after the grace
 * period). Before closeNats(), a stopped sequencer kept running: `drain()` on
 * a connection that is reconnecting never settles, and the client's reconnect
 * timer kept the process alive with its work finished.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, spawnCli, TestNatsServer, waitFor, type TestDatabase } from '@hwledger/testkit';

function output(p: ChildProcess): () => string {
  let s = '';
  p.stdout?.on('data', (d: Buffer) => (s = (s + d.toString()).slice(-20_000)));
  p.stderr?.on('data', (d: Buffer) => (s = (s + d.toString()).slice(-20_000)));
  return () => s;
}

function exitOf(p: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'timeout'> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve({ code: p.exitCode, signal: p.signalCode });
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve('timeout'), timeoutMs);
    p.once('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal });
    });
  });
}

describe('SIGTERM with the NATS server gone', () => {
  let server: TestNatsServer;
  let db: TestDatabase;
  const procs: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'hwl-shutdown-'));

  beforeAll(async () => {
    server = await TestNatsServer.start();
    db = await createTestDatabase('hwl_shutdown');
  });

  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await server?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the sequencer, projector and agent each exit 0 within the grace period', async () => {
    const chain = 'shutdown';
    const nats = ['--nats', server.url, '--chain', chain];
    const services: { name: string; p: ChildProcess; out: () => string; ready: RegExp }[] = [];
    const start = (name: string, args: string[], ready: RegExp): void => {
      const p = spawnCli(args);
      procs.push(p);
      services.push({ name, p, out: output(p), ready });
    };
    start('sequencer', ['sequencer', ...nats, '--takeover-grace-ms', '0'], /sealing from sequence/);
    start('projector', ['projector', ...nats, '--db', db.url], /projector started/);
    start('agent', ['agent', ...nats, '--node', 'n1', '--outbox', join(dir, 'outbox'), '--simulate', '--rate', '50'], /agent started/);
    for (const s of services) await waitFor(() => s.ready.test(s.out()) || s.p.exitCode !== null, 30_000, 100, `${s.name} to start: ${s.out().slice(-1000)}`);
    for (const s of services) expect(s.p.exitCode, `${s.name} exited early: ${s.out().slice(-1000)}`).toBeNull();

    await server.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1_500)); // every client notices the broker is gone and starts reconnecting
    for (const s of services) s.p.kill('SIGTERM');
    const results = await Promise.all(services.map(async (s) => ({ name: s.name, r: await exitOf(s.p, 25_000), out: s.out() })));
    for (const { name, r, out } of results) {
      expect(r, `${name} did not exit within 25 s of SIGTERM: ${out.slice(-1500)}`).not.toBe('timeout');
      expect(r, `${name}: ${out.slice(-1500)}`).toEqual({ code: 0, signal: null });
    }
  });
});
