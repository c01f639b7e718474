/**
 * The directory lock (tree stores, git replicas, archives):
 * - a lock held by this very process is not stale: a second acquisition in
 *   the same process (two proof computations in one API process) is refused,
 *   instead of both sharing the store;
 * - release removes only this acquisition's own lock, never one another
 *   holder has taken since;
 * - a stale lock (dead pid, an earlier process with this pid, a torn write,
 *   the format before tokens) is taken over;
 * - a takeover that races another one never deletes the lock the other just
 *   took (the race is injected at the exact point between reading the stale
 *   lock and removing it);
 * - several processes hammering one directory never hold it at once
 *   (built dist: run `npx tsc -b packages/ledger-ops` first).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { lockDir, withDirLock } from '@hwledger/ledger-ops';

/** A hook run after each readFileSync of a path ending in `.hwledger.lock` (to inject a concurrent takeover). */
const fsHook: { afterLockRead?: (path: string, text: string) => void } = {};

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const readFileSync = ((...args: Parameters<typeof fs.readFileSync>) => {
    const out = fs.readFileSync(...args);
    const p = String(args[0]);
    if (fsHook.afterLockRead && p.endsWith('.hwledger.lock') && typeof out === 'string') fsHook.afterLockRead(p, out);
    return out;
  }) as typeof fs.readFileSync;
  return { ...fs, default: { ...fs, readFileSync }, readFileSync };
});

const DIST = fileURLToPath(new URL('../dist/dir-lock.js', import.meta.url));
let base: string;
let sleeper: ChildProcess;
let deadPid: number;
const TOKEN = 'ab'.repeat(16);

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'hwl-dirlock-'));
  // A process that is alive for the whole file (another lock holder), and the pid of one that has exited.
  sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { stdio: 'ignore' });
  deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
});

afterAll(() => {
  if (sleeper.pid !== undefined && sleeper.exitCode === null) process.kill(sleeper.pid, 'SIGKILL');
  rmSync(base, { recursive: true, force: true });
});

afterEach(() => {
  delete fsHook.afterLockRead;
});

let n = 0;
const freshDir = (): string => {
  const d = join(base, `d${n++}`);
  spawnSync('mkdir', ['-p', d]);
  return d;
};
const lockFile = (d: string): string => join(d, '.hwledger.lock');
const codeOf = async (f: () => unknown): Promise<string | undefined> => {
  try {
    await f();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe('dir lock', () => {
  it('refuses a second acquisition in the same process, and frees the directory on release', async () => {
    const d = freshDir();
    const unlock = lockDir(d);
    expect(await codeOf(() => lockDir(d))).toBe('CONFLICT');
    expect(() => lockDir(d)).toThrow(/in use by this process/);
    expect(existsSync(lockFile(d))).toBe(true); // the failed attempts did not remove the holder's lock
    unlock();
    expect(existsSync(lockFile(d))).toBe(false);
    const again = lockDir(d);
    again();
    unlock(); // a second release is a no-op
  });

  it('two concurrent computations in one process do not share the directory', async () => {
    const d = freshDir();
    let release!: () => void;
    const first = withDirLock(d, () => new Promise<string>((r) => (release = () => r('first'))));
    // The second starts while the first is still running: refused, not run alongside.
    expect(await codeOf(() => withDirLock(d, async () => 'second'))).toBe('CONFLICT');
    expect(existsSync(lockFile(d))).toBe(true);
    release();
    expect(await first).toBe('first');
    expect(existsSync(lockFile(d))).toBe(false);
    expect(await withDirLock(d, async () => 'third')).toBe('third');
  });

  it('release removes only its own lock, not one another holder has taken since', () => {
    const d = freshDir();
    const unlock = lockDir(d);
    // Another (live) process now holds the directory, e.g. after a mistaken takeover.
    const theirs = `${sleeper.pid} ${TOKEN}\n`;
    writeFileSync(lockFile(d), theirs);
    unlock();
    expect(readFileSync(lockFile(d), 'utf8')).toBe(theirs);
    expect(() => lockDir(d)).toThrow(new RegExp(`in use by process ${sleeper.pid}`));
  });

  it('a lock held by another live process is respected', () => {
    const d = freshDir();
    writeFileSync(lockFile(d), `${sleeper.pid}`); // the format before tokens, too
    expect(() => lockDir(d)).toThrow(/in use by process/);
    writeFileSync(lockFile(d), `${sleeper.pid} ${TOKEN}\n`);
    expect(() => lockDir(d)).toThrow(/in use by process/);
  });

  it('takes over stale locks: dead pid (both formats), an earlier process with this pid, a torn write', () => {
    for (const stale of [`${deadPid}`, `${deadPid} ${TOKEN}\n`, `${process.pid} ${TOKEN}\n`, `${process.pid}`, '']) {
      const d = freshDir();
      writeFileSync(lockFile(d), stale);
      const unlock = lockDir(d);
      expect(readFileSync(lockFile(d), 'utf8')).toMatch(new RegExp(`^${process.pid} [0-9a-f]{32}\\n$`));
      unlock();
      expect(existsSync(lockFile(d))).toBe(false);
      expect(readdirSync(d)).toEqual([]); // no temporary or moved-aside file left behind
    }
  });

  it('a takeover racing another one does not delete the lock the other just took', () => {
    const d = freshDir();
    const stale = `${deadPid} ${TOKEN}\n`;
    writeFileSync(lockFile(d), stale);
    const theirs = `${sleeper.pid} ${'cd'.repeat(16)}\n`;
    let injected = false;
    fsHook.afterLockRead = (p, text) => {
      // Right after this process has read the stale lock, another process takes it over.
      if (injected || text !== stale) return;
      injected = true;
      rmSync(p);
      writeFileSync(p, theirs);
    };
    expect(() => lockDir(d)).toThrow(new RegExp(`in use by process ${sleeper.pid}`));
    expect(injected).toBe(true);
    expect(readFileSync(lockFile(d), 'utf8')).toBe(theirs);
    expect(readdirSync(d)).toEqual(['.hwledger.lock']);
  });

  it('processes racing for one directory (starting from a stale lock) never hold it at the same time', async () => {
    expect(existsSync(DIST), `build first: ${DIST}`).toBe(true);
    const d = freshDir();
    writeFileSync(lockFile(d), `${deadPid}`);
    const log = join(d, 'log.txt');
    const script = `
      import { appendFileSync } from 'node:fs';
      const { lockDir } = await import(${JSON.stringify(DIST)});
      const [dir, log, rounds] = [process.argv[1], process.argv[2], Number(process.argv[3])];
      for (let i = 0; i < rounds; ) {
        let unlock;
        try { unlock = lockDir(dir); } catch (e) { if (e.code !== 'CONFLICT') throw e; await new Promise((r) => setTimeout(r, Math.random() * 3)); continue; }
        appendFileSync(log, '+' + process.pid + '\\n');
        const until = Date.now() + 2; while (Date.now() < until) {}
        appendFileSync(log, '-' + process.pid + '\\n');
        unlock();
        i++;
        await new Promise((r) => setImmediate(r));
      }`;
    const ROUNDS = 25;
    const procs = Array.from({ length: 3 }, () => spawn(process.execPath, ['--input-type=module', '-e', script, d, log, String(ROUNDS)], { stdio: ['ignore', 'ignore', 'pipe'] }));
    const codes = await Promise.all(
      procs.map(
        (p) =>
          new Promise<{ code: number | null; err: string }>((resolve) => {
            let err = '';
            p.stderr!.on('data', (b: Buffer) => (err += b.toString()));
            p.on('close', (code) => resolve({ code, err }));
          }),
      ),
    );
    expect(codes).toEqual(procs.map(() => ({ code: 0, err: '' })));
    const lines = readFileSync(log, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(3 * ROUNDS * 2);
    for (let i = 0; i < lines.length; i += 2) {
      expect(lines[i]!.startsWith('+')).toBe(true);
      expect(lines[i + 1]).toBe(`-${lines[i]!.slice(1)}`);
    }
    expect(existsSync(lockFile(d))).toBe(false);
  });
});
