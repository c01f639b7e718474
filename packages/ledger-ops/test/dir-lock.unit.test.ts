/**
 * The directory lock (tree stores, git replicas, archives): each acquisition
 * creates a file of its own, then backs off if any other live lock file is
 * there.
 * - a lock held by this very process is not stale: a second acquisition in
 *   the same process (two proof computations in one API process) is refused,
 *   instead of both sharing the store;
 * - release removes only this acquisition's own file;
 * - stale lock files (dead pid, an earlier process with this pid, a torn
 *   write, the single-file formats of earlier versions) are ignored and swept;
 * - a contender whose file appears while this one looks makes it back off
 *   (and its file is never touched); one that backs off in turn lets it retry;
 * - several processes hammering one directory from stale locks never hold
 *   it at once (built dist: run `npx tsc -b packages/ledger-ops` first).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { lockDir, withDirLock } from '@hwledger/ledger-ops';

/** A hook run right after this process creates a lock file of its own (to inject a concurrent contender). */
const fsHook: { afterCreate?: (path: string) => void } = {};

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const openSync = ((...args: Parameters<typeof fs.openSync>) => {
    const fd = fs.openSync(...args);
    const p = String(args[0]);
    if (fsHook.afterCreate && /\.hwledger\.lock\.[0-9]+\.[0-9]+_[0-9]+\.[0-9a-f]{32}\.held$/.test(p)) fsHook.afterCreate(p);
    return fd;
  }) as typeof fs.openSync;
  return { ...fs, default: { ...fs, openSync }, openSync };
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
  delete fsHook.afterCreate;
});

let n = 0;
const freshDir = (): string => {
  const d = join(base, `d${n++}`);
  spawnSync('mkdir', ['-p', d]);
  return d;
};
/** The single lock file of earlier versions. */
const legacyLock = (d: string): string => join(d, '.hwledger.lock');
/** A process's pid namespace and start time, as the lock's file names hold them. */
const identity = (pid: number): string => {
  const ns = /\[([0-9]+)\]/.exec(readlinkSync(`/proc/${pid}/ns/pid`))![1]!;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return `${ns}_${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!}`;
};
/** An acquisition's file for `pid` (identity: its namespace and start time; made up for a dead pid) and `token`. */
const heldFile = (d: string, pid: number, token = TOKEN, id = pid === deadPid ? '4026531836_12345' : identity(pid)): string => join(d, `.hwledger.lock.${pid}.${id}.${token}.held`);
const heldName = (pid: number, token = TOKEN): string => heldFile('', pid, token);
/** Every lock-related file in `d`. */
const lockFiles = (d: string): string[] => readdirSync(d).filter((f) => f.startsWith('.hwledger.lock')).sort();
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
    const mine = lockFiles(d);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatch(new RegExp(`^\\.hwledger\\.lock\\.${process.pid}\\.${identity(process.pid)}\\.[0-9a-f]{32}\\.held$`));
    expect(await codeOf(() => lockDir(d))).toBe('CONFLICT');
    expect(() => lockDir(d)).toThrow(/in use by this process/);
    expect(lockFiles(d)).toEqual(mine); // the failed attempts removed their own files only
    unlock();
    expect(lockFiles(d)).toEqual([]);
    const again = lockDir(d);
    again();
    unlock(); // a second release is a no-op
    expect(lockFiles(d)).toEqual([]);
  });

  it('two concurrent computations in one process do not share the directory', async () => {
    const d = freshDir();
    let release!: () => void;
    const first = withDirLock(d, () => new Promise<string>((r) => (release = () => r('first'))));
    // The second starts while the first is still running: refused, not run alongside.
    expect(await codeOf(() => withDirLock(d, async () => 'second'))).toBe('CONFLICT');
    expect(lockFiles(d)).toHaveLength(1);
    release();
    expect(await first).toBe('first');
    expect(lockFiles(d)).toEqual([]);
    expect(await withDirLock(d, async () => 'third')).toBe('third');
  });

  it("release removes only its own file, never another holder's", () => {
    const d = freshDir();
    const unlock = lockDir(d);
    // Another (live) process's lock file appears, as if it had raced in.
    writeFileSync(heldFile(d, sleeper.pid!), '');
    unlock();
    expect(lockFiles(d)).toEqual([heldName(sleeper.pid!)]);
    expect(() => lockDir(d)).toThrow(new RegExp(`in use by process ${sleeper.pid}`));
    expect(lockFiles(d)).toEqual([heldName(sleeper.pid!)]);
  });

  it('a lock held by another live process is respected, in every format', () => {
    for (const make of [
      (d: string) => writeFileSync(heldFile(d, sleeper.pid!), ''),
      (d: string) => writeFileSync(legacyLock(d), `${sleeper.pid} ${TOKEN}\n`), // an earlier version's lock
      (d: string) => writeFileSync(legacyLock(d), `${sleeper.pid}`), // the format before tokens
    ]) {
      const d = freshDir();
      make(d);
      const before = lockFiles(d);
      expect(() => lockDir(d)).toThrow(new RegExp(`in use by process ${sleeper.pid}`));
      expect(lockFiles(d)).toEqual(before);
    }
  });

  it('ignores and sweeps stale locks: dead pid (every format), an earlier process with this pid, a torn write, old side files', () => {
    const stale: ((d: string) => void)[] = [
      (d) => writeFileSync(heldFile(d, deadPid), ''),
      (d) => writeFileSync(heldFile(d, process.pid), ''), // this pid, a token this process does not hold
      (d) => writeFileSync(legacyLock(d), `${deadPid}`),
      (d) => writeFileSync(legacyLock(d), `${deadPid} ${TOKEN}\n`),
      (d) => writeFileSync(legacyLock(d), `${process.pid} ${TOKEN}\n`),
      (d) => writeFileSync(legacyLock(d), ''),
      (d) => writeFileSync(join(d, `.hwledger.lock.${deadPid}.0123abcd.tmp`), ''),
      (d) => writeFileSync(join(d, `.hwledger.lock.${deadPid}.0123abcd.stale`), ''),
    ];
    for (const make of stale) {
      const d = freshDir();
      make(d);
      writeFileSync(join(d, 'data.txt'), 'x'); // not a lock file: left alone
      const unlock = lockDir(d);
      expect(lockFiles(d)).toHaveLength(1);
      expect(lockFiles(d)[0]).toMatch(new RegExp(`^\\.hwledger\\.lock\\.${process.pid}\\.${identity(process.pid)}\\.[0-9a-f]{32}\\.held$`));
      unlock();
      expect(readdirSync(d)).toEqual(['data.txt']);
    }
  });

  it('a reused pid is not its old holder: a file whose start time differs from the running process is stale', () => {
    const d = freshDir();
    writeFileSync(heldFile(d, sleeper.pid!, TOKEN, `${identity(sleeper.pid!).split('_')[0]!}_1`), '');
    const unlock = lockDir(d);
    expect(lockFiles(d)).toHaveLength(1);
    unlock();
    expect(lockFiles(d)).toEqual([]);
  });

  it('a holder in another pid namespace (another container on a shared volume) counts as live: CONFLICT naming the file', () => {
    const d = freshDir();
    // pid 1 of another namespace, as two containers' entrypoints are: it cannot be checked from here.
    writeFileSync(heldFile(d, 1, TOKEN, '4026599999_77'), '');
    expect(() => lockDir(d)).toThrow(/in use by process 1 in another pid namespace .*remove the lock file/);
    expect(lockFiles(d)).toEqual([`.hwledger.lock.1.4026599999_77.${TOKEN}.held`]);
  });

  it('a stale file it cannot sweep does not leave the lock held (in this process or for others)', () => {
    const d = freshDir();
    mkdirSync(join(d, `.hwledger.lock.${deadPid}.0123abcd.stale`)); // rmSync without recursive refuses a directory
    const unlock = lockDir(d);
    unlock();
    const again = lockDir(d);
    again();
    expect(lockFiles(d)).toEqual([`.hwledger.lock.${deadPid}.0123abcd.stale`]);
  });

  it('answers CONFLICT at once for a holder that has held for a while (no retries, no pauses)', () => {
    const d = freshDir();
    writeFileSync(heldFile(d, sleeper.pid!), '');
    const past = new Date(Date.now() - 60_000);
    utimesSync(heldFile(d, sleeper.pid!), past, past);
    let creates = 0;
    fsHook.afterCreate = () => void creates++;
    expect(() => lockDir(d)).toThrow(new RegExp(`in use by process ${sleeper.pid}`));
    expect(creates).toBe(1);
  });

  it('backs off from a contender whose file appears while it looks, and never touches that file', () => {
    const d = freshDir();
    const theirs = heldFile(d, sleeper.pid!, 'cd'.repeat(16));
    let injected = 0;
    fsHook.afterCreate = () => {
      // Right after this process created its file, a live contender's file is there too.
      if (!existsSync(theirs)) writeFileSync(theirs, '');
      injected++;
    };
    expect(() => lockDir(d)).toThrow(new RegExp(`in use by process ${sleeper.pid}`));
    expect(injected).toBeGreaterThan(1); // it retried before giving up
    expect(lockFiles(d)).toEqual([heldName(sleeper.pid!, 'cd'.repeat(16))]);
  });

  it('retries when the contender backs off in turn, and then holds the directory alone', () => {
    const d = freshDir();
    const theirs = heldFile(d, sleeper.pid!, 'ef'.repeat(16));
    let round = 0;
    fsHook.afterCreate = () => {
      // The first time, a contender arrives together with this process (and will back off, removing its file).
      if (round++ === 0) writeFileSync(theirs, '');
      else rmSync(theirs, { force: true });
    };
    const unlock = lockDir(d);
    expect(round).toBe(2);
    expect(lockFiles(d)).toHaveLength(1);
    expect(lockFiles(d)[0]).toMatch(new RegExp(`^\\.hwledger\\.lock\\.${process.pid}\\.`));
    unlock();
    expect(lockFiles(d)).toEqual([]);
  });

  it('processes racing for one directory (starting from stale locks) never hold it at the same time', async () => {
    expect(existsSync(DIST), `build first: ${DIST}`).toBe(true);
    const d = freshDir();
    writeFileSync(legacyLock(d), `${deadPid}`);
    writeFileSync(heldFile(d, deadPid), '');
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
    const PROCS = 4;
    const procs = Array.from({ length: PROCS }, () => spawn(process.execPath, ['--input-type=module', '-e', script, d, log, String(ROUNDS)], { stdio: ['ignore', 'ignore', 'pipe'] }));
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
    expect(lines).toHaveLength(PROCS * ROUNDS * 2);
    for (let i = 0; i < lines.length; i += 2) {
      expect(lines[i]!.startsWith('+')).toBe(true);
      expect(lines[i + 1]).toBe(`-${lines[i]!.slice(1)}`);
    }
    expect(lockFiles(d)).toEqual([]);
  });
});
