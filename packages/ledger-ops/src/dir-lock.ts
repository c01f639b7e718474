/**
 * An exclusive lock on a directory (tree stores, git replicas, archives).
 *
 * Each acquisition creates a file of its own, `<dir>/.hwledger.lock.<pid>.<token>.held`
 * (the token random per acquisition), then looks at every other lock file
 * in the directory: if any belongs to a live holder, it removes its own and
 * the directory is in use (CONFLICT, after a few quick retries when the other
 * file may be a simultaneous contender backing off). A lock file whose process
 * is gone (kill -9) is stale: it is ignored and swept, so a crash never
 * wedges the next run.
 *
 * Why this is exclusive: of two holders, one created its file first, and the
 * other's look at the directory came after its own creation, so it saw the
 * first file (a holder's file stays until it releases) and backed off.
 * Nothing is ever taken over or moved aside, so no contender can delete
 * another's fresh lock: the race of the single-file design before
 * (2026-12-07: a stale lock and three contenders could leave two holders)
 * has nothing to act on. The price: contenders arriving together may all
 * back off; they retry a few times with random pauses before CONFLICT.
 *
 * Threats and how they are met:
 * - Two holders in one process (two proof requests in the API sharing a tree
 *   store): a lock file with this process's pid is live when its token is
 *   one this process holds (a registry shared by every copy of this module
 *   in the process). A same-pid file with a token not held here was left by
 *   an earlier process with the same pid (a container's pid 1 after a
 *   restart) and is stale. Worker threads have registries of their own: do
 *   not lock the same directory from several threads.
 * - One holder releasing another's lock: each removes only its own file.
 * - A lock written by an earlier version (`.hwledger.lock`, holding
 *   `<pid> <token>` or `<pid>`): read as one more lock file (live while its
 *   process runs), swept when stale. Do not run an earlier version against
 *   the same directory at the same time: it does not look for these files.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { HwlError } from '@hwledger/core';

/** The single lock file of earlier versions (still honoured, swept when stale). */
const LEGACY_LOCK = '.hwledger.lock';
/** One acquisition's file: `.hwledger.lock.<pid>.<token>.held`. */
const HELD_RE = /^\.hwledger\.lock\.([0-9]{1,10})\.([0-9a-f]{32})\.held$/;
/** Side files of earlier versions (`.tmp`, `.stale`), swept when their process is gone. */
const SIDE_FILE_RE = /^\.hwledger\.lock\.([0-9]+)\.[0-9a-f]+\.(?:tmp|stale)$/;
/** Attempts before CONFLICT while another live lock file is present. */
const ATTEMPTS = 4;

/** Tokens of the locks this process holds, shared by every copy of this module loaded in the process. */
const REGISTRY_KEY = Symbol.for('hwledger.dir-lock.held-tokens');
const held: Set<string> = ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] as Set<string> | undefined) ?? new Set<string>();
(globalThis as Record<symbol, unknown>)[REGISTRY_KEY] = held;

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface Owner {
  pid: number;
  /** Absent in legacy locks written before tokens (`<pid>` only). */
  token: string | undefined;
}

/** A legacy lock's text: `<pid> <token>`, `<pid>` alone; anything else has no owner (a torn write): stale. */
function parseLegacy(text: string): Owner {
  const m = /^([0-9]{1,10})(?: ([0-9a-f]{32}))?(?:\s|$)/.exec(text);
  return m ? { pid: Number(m[1]), token: m[2] } : { pid: NaN, token: undefined };
}

/** Live: its process runs and, when that is this process, the lock is one it holds. */
function isLive(o: Owner): boolean {
  if (o.pid === process.pid) return o.token !== undefined && held.has(o.token);
  return alive(o.pid);
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The lock files of `dir` other than `mine`: live ones (with their owner) and stale ones. */
function others(dir: string, mine: string): { live: { name: string; owner: Owner }[]; stale: string[] } {
  const live: { name: string; owner: Owner }[] = [];
  const stale: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === mine) continue;
    let owner: Owner;
    if (name === LEGACY_LOCK) {
      const text = readIfExists(join(dir, name));
      if (text === undefined) continue; // removed meanwhile
      owner = parseLegacy(text);
    } else {
      const m = HELD_RE.exec(name);
      if (m) owner = { pid: Number(m[1]), token: m[2] };
      else {
        const side = SIDE_FILE_RE.exec(name);
        if (side && Number(side[1]) !== process.pid && !alive(Number(side[1]))) stale.push(name);
        continue;
      }
    }
    if (isLive(owner)) live.push({ name, owner });
    else stale.push(name);
  }
  return { live, stale };
}

/** Blocks for `ms` (a contended acquisition only: lockDir is synchronous). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function lockDir(dir: string): () => void {
  const token = randomBytes(16).toString('hex');
  const mine = `${LEGACY_LOCK}.${process.pid}.${token}.held`;
  const path = join(dir, mine);
  let busy: { name: string; owner: Owner } | undefined;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (attempt > 0) pause(1 + Math.random() * 4);
    // Registered before the file exists, so that nothing in this process ever sees it as stale.
    held.add(token);
    let seen: ReturnType<typeof others>;
    try {
      closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644));
      seen = others(dir, mine);
    } catch (e) {
      rmSync(path, { force: true });
      held.delete(token);
      throw e;
    }
    busy = seen.live[0];
    if (busy === undefined) {
      for (const s of seen.stale) rmSync(join(dir, s), { force: true }); // their owners are gone
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(path, { force: true });
        held.delete(token);
      };
    }
    rmSync(path, { force: true });
    held.delete(token);
    // Another holder in this very process is not a contender that may back off.
    if (busy.owner.pid === process.pid) break;
  }
  const who = busy!.owner.pid === process.pid ? `this process (${busy!.owner.pid})` : `process ${busy!.owner.pid}`;
  throw new HwlError('CONFLICT', `${dir} is in use by ${who} (lock ${join(dir, busy!.name)})`);
}

export async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const unlock = lockDir(dir);
  try {
    return await fn();
  } finally {
    unlock();
  }
}
