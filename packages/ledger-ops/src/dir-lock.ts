/**
 * An exclusive lock on a directory (tree stores, git replicas, archives).
 *
 * Each acquisition creates a file of its own,
 * `<dir>/.hwledger.lock.<pid>.<pid namespace>_<start time>.<token>.held` (the
 * token random per acquisition), then looks at every other lock file in the
 * directory: if any belongs to a live holder, it removes its own and the
 * directory is in use (CONFLICT; a holder that has held for a while is
 * answered at once, a file that just appeared may be a simultaneous
 * contender backing off, so it retries a few times first). A lock file whose
 * process is gone (kill -9) is stale: it is ignored and swept, so a crash
 * never wedges the next run.
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
 * Liveness of another holder (Linux): its pid must run in this pid
 * namespace with the start time in its file name (so a reused pid is not
 * mistaken for it). A holder in another pid namespace (another container on
 * a shared volume: both may be pid 1) cannot be checked from here and is
 * taken as live: a stale lock left by a crashed container has to be removed
 * by hand (the CONFLICT message names the file). Where /proc is missing, a
 * running pid is taken as live.
 *
 * Threats and how they are met:
 * - Two holders in one process (two proof requests in the API sharing a tree
 *   store): a lock file of this very process is live when its token is one
 *   this process holds (a registry shared by every copy of this module in
 *   the process). Worker threads have registries of their own: do not lock
 *   the same directory from several threads.
 * - One holder releasing another's lock: each removes only its own file.
 * - A lock written by an earlier version (`.hwledger.lock`, holding
 *   `<pid> <token>` or `<pid>`): read as one more lock file (live while its
 *   pid runs), swept when stale. Do not run an earlier version against the
 *   same directory at the same time: it does not look for these files.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HwlError } from '@hwledger/core';

/** The single lock file of earlier versions (still honoured, swept when stale). */
const LEGACY_LOCK = '.hwledger.lock';
/** One acquisition's file: `.hwledger.lock.<pid>.<pid namespace>_<start time>.<token>.held` (0_0: unknown). */
const HELD_RE = /^\.hwledger\.lock\.([0-9]{1,10})\.([0-9]{1,20})_([0-9]{1,20})\.([0-9a-f]{32})\.held$/;
/** A holder whose file is older than this is not a contender that may still back off: CONFLICT at once. */
const SETTLED_MS = 50;
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
  /** Pid namespace (inode of /proc/<pid>/ns/pid) and start time (clock ticks after boot); '0' when unknown (legacy files, no /proc). */
  ns: string;
  start: string;
  /** Absent in legacy locks written before tokens (`<pid>` only). */
  token: string | undefined;
}

/** The pid namespace of this process, or '0' where /proc does not say. */
function ownNamespace(): string {
  try {
    return /^pid:\[([0-9]+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    return '0';
  }
}

/**
 * The start time of `pid` (field 22 of /proc/<pid>/stat): undefined when it
 * does not run, '0' when it runs but /proc does not say (no /proc, or hidden
 * by hidepid): then any process with that pid counts.
 */
function startTimeOf(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return alive(pid) ? '0' : undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
}

const OWN = { ns: ownNamespace(), start: startTimeOf(process.pid) ?? '0' };

/** A legacy lock's text: `<pid> <token>`, `<pid>` alone; anything else has no owner (a torn write): stale. */
function parseLegacy(text: string): Owner {
  const m = /^([0-9]{1,10})(?: ([0-9a-f]{32}))?(?:\s|$)/.exec(text);
  return m ? { pid: Number(m[1]), ns: '0', start: '0', token: m[2] } : { pid: NaN, ns: '0', start: '0', token: undefined };
}

/**
 * Live: this process holding that token; or another process that runs now,
 * in this pid namespace, started when its file says (where that is known);
 * or any holder in another pid namespace (it cannot be checked from here).
 */
function isLive(o: Owner): boolean {
  if (!Number.isSafeInteger(o.pid) || o.pid <= 0) return false;
  if (o.ns !== '0' && OWN.ns !== '0' && o.ns !== OWN.ns) return true;
  if (o.pid === process.pid && (o.start === '0' || o.start === OWN.start)) return o.token !== undefined && held.has(o.token);
  if (o.start === '0') return o.pid !== process.pid && alive(o.pid);
  const start = startTimeOf(o.pid);
  return start !== undefined && (start === '0' || start === o.start);
}

/** Why `o` holds the directory, for the CONFLICT message. */
function holderText(o: Owner): string {
  if (o.ns !== '0' && OWN.ns !== '0' && o.ns !== OWN.ns) return `process ${o.pid} in another pid namespace (it cannot be checked from here: if no process uses the directory, remove the lock file)`;
  return o.pid === process.pid ? `this process (${o.pid})` : `process ${o.pid}`;
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
      if (m) owner = { pid: Number(m[1]), ns: m[2]!, start: m[3]!, token: m[4] };
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

/** Removes files, ignoring any that cannot be removed (stale files are ignored when read anyway). */
function removeQuietly(dir: string, names: readonly string[]): void {
  for (const n of names) {
    try {
      rmSync(join(dir, n), { force: true });
    } catch {
      // e.g. EPERM in a sticky directory, EISDIR: left for someone who can
    }
  }
}

/** Whether a holder's file has existed for a while (a real holder, not a contender that may still back off). */
function settled(dir: string, name: string): boolean {
  try {
    return Date.now() - statSync(join(dir, name)).mtimeMs > SETTLED_MS;
  } catch {
    return false; // gone meanwhile: worth another try
  }
}

export function lockDir(dir: string): () => void {
  const token = randomBytes(16).toString('hex');
  const mine = `${LEGACY_LOCK}.${process.pid}.${OWN.ns}_${OWN.start}.${token}.held`;
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
      removeQuietly(dir, [mine]);
      held.delete(token);
      throw e;
    }
    busy = seen.live[0];
    if (busy === undefined) {
      removeQuietly(dir, seen.stale); // their owners are gone
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          rmSync(path, { force: true });
        } finally {
          held.delete(token);
        }
      };
    }
    removeQuietly(dir, [mine]);
    held.delete(token);
    // Another holder in this very process, or one that has held for a while, will not back off.
    if (busy.owner.pid === process.pid || settled(dir, busy.name)) break;
  }
  throw new HwlError('CONFLICT', `${dir} is in use by ${holderText(busy!.owner)} (lock ${join(dir, busy!.name)})`);
}

export async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const unlock = lockDir(dir);
  try {
    return await fn();
  } finally {
    unlock();
  }
}
