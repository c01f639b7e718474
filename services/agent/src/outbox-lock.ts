/**
 * One writer per outbox directory: the `LOCK` file.
 *
 *   LOCK   "<pid> <boot id> <pid namespace> <hostname>\n"
 *
 * A process id says whether its holder still runs only to a process in the
 * same pid namespace of the same kernel. Two containers sharing one outbox
 * volume (a compose file scaled to two agents, a surge rollout) each run the
 * agent as pid 1, in namespaces of their own, and each sees the other's pid
 * as "its own, left by a crashed run" or as some unrelated process. So:
 *
 * - same kernel (boot id) and same pid namespace: the pid decides, as
 *   before. Alive: in use. Dead, or this very pid while this process holds
 *   no such lock (a container's pid 1 after a crash): stale, taken over.
 * - otherwise (another container, another host over a shared file system,
 *   a boot since): the holder's heartbeat decides. A holder refreshes the
 *   LOCK's modification time every `heartbeatMs` (5 s); a LOCK not
 *   refreshed for `staleMs` (30 s) is stale. A fresh one is watched: if it
 *   is refreshed, its holder is alive and the open is refused at once; if
 *   it is not refreshed for `staleMs`, it is taken over. A start after a
 *   crash in such a setup therefore waits up to `staleMs`.
 * - a LOCK holding only a pid (written by agents before 2026-12-07, which
 *   do not refresh it) is judged by its pid, as they judged it.
 *
 * Threat: two writers appending to and truncating one outbox corrupt it,
 * and frames an agent acknowledged are lost. The file system is trusted
 * (the outbox folder is the agent's own, 0700).
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { HwlError, silentLogger, type Logger } from '@hwledger/core';

const LOCK = 'LOCK';

export interface OutboxLockOptions {
  /** How often the holder refreshes the LOCK's modification time (default 5,000 ms). */
  heartbeatMs?: number;
  /** A LOCK of another namespace not refreshed for this long is stale (default 30,000 ms). */
  staleMs?: number;
}

/** This process's identity as a LOCK records it. */
export interface LockIdentity {
  pid: number;
  bootId: string;
  pidNs: string;
  host: string;
}

function readOr(read: () => string): string {
  try {
    return read().trim();
  } catch {
    return '';
  }
}

/** Where the kernel tells (Linux): its boot id and this process's pid namespace; '' elsewhere. */
export function ownIdentity(): LockIdentity {
  return {
    pid: process.pid,
    bootId: readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')),
    pidNs: readOr(() => readlinkSync('/proc/self/ns/pid')).replace(/[^A-Za-z0-9:[\]]/g, ''),
    host: hostname().replace(/\s/g, '_') || '?',
  };
}

export function formatLock(id: LockIdentity): string {
  return `${id.pid} ${id.bootId || '-'} ${id.pidNs || '-'} ${id.host}\n`;
}

/** A LOCK's content; `legacy` for the pid-only form. Undefined when it is not a LOCK at all. */
export function parseLock(text: string): (LockIdentity & { legacy: boolean }) | undefined {
  const parts = text.trim().split(' ');
  const pid = Number(parts[0]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  if (parts.length === 1) return { pid, bootId: '', pidNs: '', host: '', legacy: true };
  if (parts.length !== 4) return undefined;
  const dash = (s: string): string => (s === '-' ? '' : s);
  return { pid, bootId: dash(parts[1]!), pidNs: dash(parts[2]!), host: parts[3]!, legacy: false };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Outbox directories (real paths) this process holds the LOCK of. A LOCK
 * holding this process's own pid that is not in here was left by an earlier
 * process that had the same pid and crashed: in a container the agent has the
 * same pid (1) on every start, so that lock is stale, not "in use".
 */
const heldHere = new Set<string>();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The LOCK's modification time in ms, or undefined when it is gone. */
async function mtimeOf(path: string): Promise<number | undefined> {
  return stat(path).then(
    (s) => s.mtimeMs,
    () => undefined,
  );
}

/**
 * Removes the LOCK judged stale, if it still is that one. Two processes that
 * judged the same stale LOCK (agents restarted together) must not both take
 * it over: without this, the second one's unlink removed the LOCK the first
 * had just created, and both held the outbox. A takeover therefore holds
 * `LOCK.takeover` (created exclusively) while it checks that the LOCK still
 * has the content it judged and removes it; a process that finds the
 * takeover file waits and tries again from the start (by then the LOCK is
 * usually the other one's, judged like any other). A takeover file older than
 * TAKEOVER_STALE_MS was left by a process that died in those few steps.
 */
const TAKEOVER = 'LOCK.takeover';
const TAKEOVER_STALE_MS = 10_000;

async function removeIfStill(dir: string, judged: string): Promise<void> {
  const mutex = join(dir, TAKEOVER);
  try {
    await writeFile(mutex, formatLock(ownIdentity()), { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const m = await mtimeOf(mutex);
    if (m !== undefined && Date.now() - m > TAKEOVER_STALE_MS) await unlink(mutex).catch(() => undefined);
    await sleep(20 + Math.floor(Math.random() * 30));
    return;
  }
  try {
    const now = await readFile(join(dir, LOCK), 'utf8').catch(() => undefined);
    if (now === judged) await unlink(join(dir, LOCK)).catch(() => undefined);
  } finally {
    await unlink(mutex).catch(() => undefined);
  }
}

/** A held outbox lock: refreshed until release(); `lost` once another process's LOCK replaced it. */
export class OutboxLock {
  private readonly timer: NodeJS.Timeout;
  private lostTo: string | undefined;

  private constructor(
    private readonly dir: string,
    heartbeatMs: number,
    private readonly mine: string,
    private readonly logger: Logger,
  ) {
    const path = join(dir, LOCK);
    this.timer = setInterval(() => {
      // Each beat also checks the LOCK is still this process's: if another took it over (this
      // process was frozen past staleMs, say), writing on would make two writers.
      void readFile(path, 'utf8').then(
        (text) => {
          if (text !== this.mine) return this.lose(text);
          const now = new Date();
          return utimes(path, now, now).catch(() => undefined);
        },
        () => this.lose(undefined),
      );
    }, heartbeatMs);
    this.timer.unref();
  }

  /** Why the lock is no longer this process's (undefined while it is). */
  get lost(): string | undefined {
    return this.lostTo;
  }

  /**
   * Reads the LOCK now (not at the next heartbeat) and returns why it is no
   * longer this process's, or undefined while it is. The outbox asks before
   * every change to its files: a holder frozen past staleMs whose outbox
   * another agent took over must not write flushed.json, roll or delete a
   * segment the new holder is appending to, even before its next heartbeat
   * notices.
   */
  async confirm(): Promise<string | undefined> {
    if (this.lostTo !== undefined) return this.lostTo;
    const text = await readFile(join(this.dir, LOCK), 'utf8').catch(() => undefined);
    if (text !== this.mine) this.lose(text);
    return this.lostTo;
  }

  private lose(text: string | undefined): void {
    if (this.lostTo !== undefined) return;
    const other = text === undefined ? undefined : parseLock(text);
    this.lostTo = other ? `its LOCK now names process ${other.pid}${other.host ? ` on ${other.host}` : ''}` : 'its LOCK was removed';
    clearInterval(this.timer);
    this.logger.error({ dir: this.dir, reason: this.lostTo }, 'outbox LOCK lost to another process: this agent stops writing to the outbox');
  }

  /**
   * Takes the LOCK of `dir` (a real path), waiting up to `staleMs` when a
   * LOCK of another namespace might be held; CONFIG error when it is held.
   */
  static async take(dir: string, opts: OutboxLockOptions = {}, logger: Logger = silentLogger()): Promise<OutboxLock> {
    const heartbeatMs = opts.heartbeatMs ?? 5_000;
    const staleMs = opts.staleMs ?? 30_000;
    const path = join(dir, LOCK);
    const me = ownIdentity();
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        await writeFile(path, formatLock(me), { flag: 'wx' });
        heldHere.add(dir);
        return new OutboxLock(dir, heartbeatMs, formatLock(me), logger);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const text = await readFile(path, 'utf8').catch(() => undefined);
      if (text === undefined) continue; // released meanwhile
      const held = parseLock(text);
      if (held !== undefined) await judge(dir, path, held, me, staleMs, logger);
      // Stale (or not a LOCK at all): remove it, if no other process took it over meanwhile, and try again.
      await removeIfStill(dir, text);
    }
    throw new HwlError('CONFIG', `cannot lock outbox ${dir}`);
  }

  /** Stops refreshing and removes the LOCK, if it is still this process's (never another's). */
  async release(): Promise<void> {
    clearInterval(this.timer);
    const path = join(this.dir, LOCK);
    if (this.lostTo === undefined && (await readFile(path, 'utf8').catch(() => undefined)) === this.mine) await unlink(path).catch(() => undefined);
    heldHere.delete(this.dir);
  }
}

/** Returns when the LOCK `held` is stale; throws CONFIG when its holder is alive. */
async function judge(dir: string, path: string, held: LockIdentity & { legacy: boolean }, me: LockIdentity, staleMs: number, logger: Logger): Promise<void> {
  const inUse = (how: string): HwlError => new HwlError('CONFIG', `outbox ${dir} is in use by process ${held.pid}${held.host ? ` on ${held.host}` : ''} (${how}; one agent per outbox: pass another --outbox or --node)`);
  const samePidSpace = held.legacy || (me.bootId !== '' && held.bootId === me.bootId && me.pidNs !== '' && held.pidNs === me.pidNs);
  if (samePidSpace) {
    const crashedEarlierSelf = held.pid === me.pid && !heldHere.has(dir);
    if (!crashedEarlierSelf && pidAlive(held.pid)) throw inUse('it is running');
    return;
  }
  // Another pid namespace or kernel: the holder's heartbeat decides.
  const first = await mtimeOf(path);
  if (first === undefined) return;
  const deadline = Math.min(first, Date.now()) + staleMs; // a future mtime (clock skew) cannot stretch the wait
  if (deadline > Date.now()) {
    logger.warn({ dir, pid: held.pid, host: held.host, waitMs: deadline - Date.now() }, 'outbox LOCK of another container or host: waiting for its heartbeat to stop (a running holder refreshes it)');
  }
  for (;;) {
    const m = await mtimeOf(path);
    if (m === undefined) return; // released
    if (m !== first) throw inUse(`in another container or host: its LOCK was refreshed ${Math.max(0, Math.round((Date.now() - m) / 1000))} s ago`);
    if (Date.now() >= deadline) return; // not refreshed for staleMs: its holder is gone
    await sleep(Math.min(250, Math.max(10, deadline - Date.now())));
  }
}
