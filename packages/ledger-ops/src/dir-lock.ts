/**
 * An exclusive lock on a directory (tree stores, git replicas, archives):
 * `<dir>/.hwledger.lock`, holding `<pid> <token>` where the token is random
 * per acquisition. A lock whose process is gone (kill -9) is stale and is
 * taken over, so a crash never wedges the next run.
 *
 * Threats and how they are met:
 * - Two holders in one process (e.g. two proof requests in the API sharing a
 *   tree store): a lock whose pid is this process is live when its token is
 *   one this process holds (a registry shared by every copy of this module in
 *   the process), so the second caller gets CONFLICT instead of sharing the
 *   store. A same-pid lock with a token not held here was left by an earlier
 *   process that had the same pid (a container's pid 1 after a restart) and
 *   is stale. Worker threads have registries of their own: do not lock the
 *   same directory from several threads.
 * - One holder releasing another's lock: release removes the file only while
 *   it still holds this acquisition's token.
 * - Racing takeovers (both see the same stale lock, one takes it over, the
 *   other then deletes the fresh lock and takes it too): the stale file is
 *   moved aside with an atomic rename and checked to be the very file judged
 *   stale; a fresh lock moved by mistake is linked back (link fails rather
 *   than overwrite a newer one). A lock is created complete (written to a
 *   temporary file, then hard-linked into place: atomic and exclusive like
 *   O_EXCL), so nobody ever reads a half-written lock and judges it stale,
 *   and ownership is re-read after taking. This closes the two-contender
 *   race, not every one: a narrow race remains that needs a stale lock and
 *   three contenders. B reads stale lock T; A takes T over, creates its lock
 *   LA and passes its re-check; B renames the lock file (now LA) aside; C
 *   creates LC in the empty slot and passes its re-check; B's link-back of
 *   LA fails with EEXIST (by design), so A and C both believe they hold the
 *   lock (A's release then leaves LC alone, but A has run unlocked).
 *   Serialising takeovers would close it (e.g. moving a stale lock aside
 *   only while holding an exclusive `.hwledger.lock.takeover` file, created
 *   like the lock itself); that is not done here.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, linkSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { HwlError } from '@hwledger/core';

const LOCK_NAME = '.hwledger.lock';
/** Temporary and moved-aside files: `.hwledger.lock.<pid>.<hex>.tmp|stale`. */
const SIDE_FILE_RE = /^\.hwledger\.lock\.([0-9]+)\.[0-9a-f]+\.(?:tmp|stale)$/;

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
  /** Absent in locks written before tokens (`<pid>` only). */
  token: string | undefined;
}

/** `<pid> <token>`; `<pid>` alone (older locks); anything else has no owner (a torn write): stale. */
function parseOwner(text: string): Owner {
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

const sideName = (dir: string, kind: 'tmp' | 'stale'): string => join(dir, `${LOCK_NAME}.${process.pid}.${randomBytes(8).toString('hex')}.${kind}`);

/** Creates the lock file with `content` if there is none: written aside, then hard-linked into place (EEXIST when taken). */
function tryCreate(dir: string, path: string, content: string): boolean {
  const tmp = sideName(dir, 'tmp');
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Removes the lock file judged stale, only if it is still that file: moved
 * aside atomically, then compared; anything else moved by mistake (a lock
 * another process took over meanwhile) is linked back unless a newer lock
 * is already in place.
 */
function removeStale(dir: string, path: string, staleText: string): void {
  const aside = sideName(dir, 'stale');
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // already gone
    throw e;
  }
  try {
    if (readIfExists(aside) === staleText) return;
    try {
      linkSync(aside, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  } finally {
    rmSync(aside, { force: true });
  }
}

/** Side files left by processes killed mid-acquisition (their pid is gone). */
function sweepSideFiles(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = SIDE_FILE_RE.exec(n);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) rmSync(join(dir, n), { force: true });
  }
}

export function lockDir(dir: string): () => void {
  const path = join(dir, LOCK_NAME);
  const token = randomBytes(16).toString('hex');
  const content = `${process.pid} ${token}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(dir, path, content)) {
      // Re-check after taking: a racing takeover may have moved it in the meantime.
      if (readIfExists(path) !== content) continue;
      held.add(token);
      sweepSideFiles(dir);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        // Only our own lock: never one another holder has taken since.
        if (readIfExists(path) === content) rmSync(path, { force: true });
        held.delete(token);
      };
    }
    const text = readIfExists(path);
    if (text === undefined) continue; // released meanwhile: try again
    const owner = parseOwner(text);
    if (isLive(owner)) {
      const who = owner.pid === process.pid ? `this process (${owner.pid})` : `process ${owner.pid}`;
      throw new HwlError('CONFLICT', `${dir} is in use by ${who} (lock ${path})`);
    }
    removeStale(dir, path, text); // its owner died (or is an earlier process with our pid)
  }
  throw new HwlError('CONFLICT', `could not lock ${dir}`);
}

export async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const unlock = lockDir(dir);
  try {
    return await fn();
  } finally {
    unlock();
  }
}
