/**
 * The local stack's secrets and its shutdown, with real processes:
 * - logs: HWL_HOME/logs 0700, each log 0600 (an older 0644 one narrowed),
 *   and the command line a log records has no password in it;
 * - stack.json 0600 with its URLs redacted;
 * - services get NATS/DB URLs from the environment, not argv (`ps`);
 * - connectNats never prints the password of an unreachable URL;
 * - SIGHUP (terminal closed), like SIGINT/SIGTERM, makes a runner stop its
 *   children: a real runner process (runStack, as main.ts runs it, over
 *   real ManagedProcess children) gets SIGHUP, and its children's pids are
 *   gone afterwards. (The full `npm start` takes too long to start on a
 *   small machine for this; stack.e2e.test.ts covers its SIGINT stop.)
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { connectNats } from '@hwledger/core';
import { ManagedProcess } from '../src/managed-process.js';
import { argsWithoutUrls, ensurePrivateLogs, STOP_SIGNALS, writeStackJson } from '../src/stack.js';
import { planServices } from '../src/service-plan.js';
import { resolveStackConfig } from '../src/stack-config.js';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const dirs: string[] = [];
const strays: number[] = [];
const PW = 'Zq9/Xk@Wv:Rt';
const DB = `postgres://postgres:${encodeURIComponent(PW)}@127.0.0.1:5450/hwledger`;
const DB_RAW = `postgres://postgres:${PW}@127.0.0.1:5450/hwledger`;
const NATS = `nats://svc:${PW}@127.0.0.1:4250`;

afterAll(() => {
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'hwl-secrets-'));
  dirs.push(d);
  return d;
}

const mode = (p: string): number => statSync(p).mode & 0o777;
// Pieces of the password as written or URL-encoded, each with a character a temp folder's random
// suffix cannot hold (two letters alone matched a folder like hwl-secrets-WvMV3n: a flake).
const leaks = (text: string): boolean => /Zq9\/|\/Xk|Xk@|@Wv|Wv:|:Rt|Zq9%2F|%2FXk|Xk%40|%40Wv|Wv%3A|%3ARt/.test(text);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('logs and stack.json are private and hold no password', () => {
  it('logs folder 0700 (also when an older run made it 0755), log files 0600, no password in the logged command line', async () => {
    const home = tmp();
    mkdirSync(join(home, 'logs'), { mode: 0o755 });
    chmodSync(join(home, 'logs'), 0o755);
    const logs = ensurePrivateLogs(home);
    expect(mode(logs)).toBe(0o700);
    const old = join(logs, 'old.log');
    writeFileSync(old, 'older run\n', { mode: 0o644 });
    chmodSync(old, 0o644);
    for (const logFile of [old, join(logs, 'new.log')]) {
      const p = new ManagedProcess({ name: 'x', command: process.execPath, args: ['-e', 'console.log("hello")', '--', '--db', DB, '--nats', NATS, DB_RAW, `url=${NATS},${NATS}`], logFile });
      expect((await p.exited).code).toBe(0);
      await new Promise((r) => setTimeout(r, 50));
      const text = readFileSync(logFile, 'utf8');
      expect(mode(logFile)).toBe(0o600);
      expect(text).toContain('hello');
      expect(text).toContain('--db postgres://postgres:***@127.0.0.1:5450/hwledger --nats nats://svc:***@127.0.0.1:4250');
      expect(leaks(text), text).toBe(false);
    }
  });

  it('stop() kills the whole process group when the process outlives its stop timeout, so its children do not keep it waiting', async () => {
    // A shell that ignores SIGTERM and has a child holding its output pipe
    // (as a server's workers would). Before, the SIGKILL after the timeout
    // went to the shell alone: the child lived on, the pipe stayed open, and
    // stop() never returned.
    const logFile = join(tmp(), 'group.log');
    const p = new ManagedProcess({ name: 'group', command: '/bin/sh', args: ['-c', 'trap "" TERM; sleep 600 & echo "CHILD $!"; wait'], logFile });
    let child = 0;
    for (let i = 0; i < 100 && !child; i++) {
      await new Promise((r) => setTimeout(r, 50));
      child = Number(/CHILD (\d+)/.exec(readFileSync(logFile, 'utf8'))?.[1] ?? 0);
    }
    expect(child).toBeGreaterThan(0);
    strays.push(child);
    const stopped = await Promise.race([p.stop(300).then(() => 'stopped'), new Promise((r) => setTimeout(() => r('hung'), 5_000))]);
    expect(stopped).toBe('stopped');
    // The child is gone too (dead: no /proc entry, or a zombie waiting for init to reap it).
    const state = (): string => {
      try {
        return readFileSync(`/proc/${child}/stat`, 'utf8').split(') ')[1]?.[0] ?? '';
      } catch {
        return 'gone';
      }
    };
    for (let i = 0; i < 40 && !['gone', 'Z', 'X'].includes(state()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(['gone', 'Z', 'X']).toContain(state());
  });

  it('a fresh HWL_HOME gets a 0700 logs folder', () => {
    const home = join(tmp(), 'a', 'b');
    expect(mode(ensurePrivateLogs(home))).toBe(0o700);
  });

  it('stack.json is 0600 with the NATS and database URLs redacted', () => {
    const home = tmp();
    writeFileSync(join(home, 'stack.json'), '{}', { mode: 0o644 });
    writeStackJson(home, {
      natsUrl: `${NATS},${NATS}`,
      databaseUrl: DB,
      dashboardUrl: 'http://127.0.0.1:8080/dashboard/#key=op_secretkey',
      apiUrl: 'http://127.0.0.1:8080',
      grpcAddress: '127.0.0.1:9090',
      keys: { keysFile: '/k.json', operatorKey: 'op_secretkey', operatorKeyFile: '/op.key' },
      services: [],
      resumedAt: {},
      logs: join(home, 'logs'),
    });
    const file = join(home, 'stack.json');
    const text = readFileSync(file, 'utf8');
    expect(mode(file)).toBe(0o600);
    expect(leaks(text) || text.includes('op_secretkey'), text).toBe(false);
    const j = JSON.parse(text) as { natsUrl: string; databaseUrl: string };
    expect(j.natsUrl).toBe('nats://svc:***@127.0.0.1:4250,nats://svc:***@127.0.0.1:4250');
    expect(j.databaseUrl).toBe('postgres://postgres:***@127.0.0.1:5450/hwledger');
  });

  it('services get the NATS and database URLs from the environment, not argv', () => {
    const cfg = resolveStackConfig({ HWL_HOME: tmp() }, '/tmp');
    const env = { NATS_URL: NATS, DATABASE_URL: DB };
    const specs = planServices(cfg, { nats: NATS, db: DB, keysFile: '/k.json', checkpointKey: { signer: '/c.key', verifier: '/c.key.pub' } }, 1);
    for (const s of specs) {
      const args = argsWithoutUrls(s.args, env);
      expect(leaks(args.join(' ')), `${s.name}: ${args.join(' ')}`).toBe(false);
      expect(args).not.toContain('--db');
      expect(args).not.toContain('--nats');
      expect(args[0]).toBe(s.args[0]);
    }
    // A flag whose value differs from the environment's stays (nothing silently changes).
    expect(argsWithoutUrls(['api', '--db', 'postgres://other/x'], env)).toEqual(['api', '--db', 'postgres://other/x']);
  });

  it('connectNats to an unreachable URL with a password holding / and @ does not print it', async () => {
    const err = await connectNats(`nats://svc:${PW}@127.0.0.1:1,nats://svc:${PW}@127.0.0.1:2`, 't', { maxReconnectAttempts: 0, timeoutMs: 1_000 }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/cannot reach NATS at nats:\/\/svc:\*\*\*@127\.0\.0\.1:1,nats:\/\/svc:\*\*\*@127\.0\.0\.1:2/);
    expect(leaks(err?.message ?? ''), err?.message).toBe(false);
  });
});

describe('stop signals', () => {
  it('SIGINT, SIGTERM and SIGHUP stop the stack', () => {
    expect([...STOP_SIGNALS].sort()).toEqual(['SIGHUP', 'SIGINT', 'SIGTERM']);
  });

  it('SIGHUP to a real runner stops its children and it exits 0', async () => {
    const dir = tmp();
    const runner = join(dir, 'runner.mjs');
    const url = (f: string): string => pathToFileURL(join(DIST, f)).href;
    writeFileSync(
      runner,
      `import { runStack } from ${JSON.stringify(url('stack.js'))};
import { ManagedProcess } from ${JSON.stringify(url('managed-process.js'))};
const children = [0, 1].map((i) => new ManagedProcess({ name: 'c' + i, command: process.execPath, args: ['-e', 'setInterval(() => {}, 1e6)'], logFile: ${JSON.stringify(dir)} + '/c' + i + '.log' }));
const code = await runStack(async () => ({ info: {}, failed: new Promise(() => {}), stop: async () => { for (const c of children.reverse()) await c.stop(5000); } }), {
  started: () => console.log('PIDS ' + JSON.stringify(children.map((c) => c.pid))),
  say: (l) => console.log(l),
  warn: (l) => console.error(l),
});
process.exit(code);
`,
    );
    const p = spawn(process.execPath, [runner], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.on('close', (code, signal) => r({ code, signal })));
    const pids = await new Promise<number[]>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`runner did not start: ${out}`)), 15_000);
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /PIDS (\[.*\])/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(JSON.parse(m[1]!) as number[]);
        }
      });
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    });
    strays.push(...pids);
    expect(pids.every(alive)).toBe(true);
    p.kill('SIGHUP');
    const r = await Promise.race([exited, new Promise<undefined>((res) => setTimeout(() => res(undefined), 10_000))]);
    expect(r, out).toEqual({ code: 0, signal: null });
    expect(out).toMatch(/SIGHUP received, stopping/);
    expect(pids.filter(alive)).toEqual([]);
  });
});
