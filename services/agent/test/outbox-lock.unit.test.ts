/**
 * The outbox's LOCK after a crash when the next start has the same pid: in a
 * container the agent is pid 1 (Dockerfile ENTRYPOINT node ...) on every
 * start, so the LOCK a kill -9 / OOM kill / power loss left behind holds the
 * pid of the new process itself. That lock is stale (no other agent holds
 * it); a second open in the same process is still refused.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Outbox } from '@hwledger/agent';
import { formatLock, ownIdentity, parseLock } from '../src/outbox-lock.js';

const dirs: string[] = [];
const newDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'hwl-outbox-lock-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const AGENT = fileURLToPath(new URL('../dist/index.js', import.meta.url));
// One agent: opens the outbox (heartbeat 50 ms, stale after 800 ms), says whether it got it, holds it a while.
const CHILD = `
const { Outbox } = await import(${JSON.stringify(AGENT)});
try {
  const box = await Outbox.open(process.argv[1], { lock: { heartbeatMs: 50, staleMs: 800 } });
  console.log('HELD');
  await new Promise((r) => setTimeout(r, 1000));
  await box.close();
} catch (e) {
  console.log('REFUSED ' + e.code);
}
`;

function agent(dir: string): Promise<string> {
  const p = spawn(process.execPath, ['--input-type=module', '-e', CHILD, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((r) => p.on('close', () => r(out.trim())));
}

describe('Outbox lock', () => {
  it('a LOCK left by a crashed earlier process with this same pid (pid 1 in a container) is taken over, and what it held is replayed', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir);
    await box.append([{ msgId: 'm-1', body: new Uint8Array(20).fill(1), events: 1 }]);
    await box.close();
    // What kill -9 of the earlier incarnation leaves: its fsync'd frames and its LOCK, holding
    // its pid, which the restarted agent gets again.
    // Both forms: pid only (agents before 2026-12-07) and the full one, written in this same namespace.
    for (const left of [`${process.pid}\n`, formatLock(ownIdentity())]) {
      writeFileSync(join(dir, 'LOCK'), left);
      const t0 = Date.now();
      const again = await Outbox.open(dir);
      expect(Date.now() - t0).toBeLessThan(1_000); // judged by its pid: no wait for a heartbeat
      expect(again.depthFrames).toBe(1);
      expect((await again.peek())?.msgId).toBe('m-1');
      expect(parseLock(readFileSync(join(dir, 'LOCK'), 'utf8'))?.pid).toBe(process.pid);
      await again.close();
    }
  });

  it('still one holder per process: a second open of an outbox this process holds is refused', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir);
    await expect(Outbox.open(dir)).rejects.toMatchObject({ code: 'CONFIG' });
    await box.close();
    const again = await Outbox.open(dir); // released on close
    await expect(Outbox.open(dir)).rejects.toMatchObject({ code: 'CONFIG' });
    await again.close();
  });

  // Two containers sharing one outbox volume: each agent is pid 1 in a pid
  // namespace of its own, so a pid says nothing about the other one.
  const foreign = (pid: number): string => formatLock({ ...ownIdentity(), pid, pidNs: 'pid:[1]', host: 'other-container' });
  const fast = { lock: { heartbeatMs: 50, staleMs: 800 } };

  it('a LOCK of another pid namespace that its holder keeps refreshing is refused, also when it holds this same pid', async () => {
    const dir = newDir();
    // Before, a LOCK with this process's own pid was taken for a crashed earlier run and taken over: two writers.
    writeFileSync(join(dir, 'LOCK'), foreign(process.pid));
    const beat = setInterval(() => utimesSync(join(dir, 'LOCK'), new Date(), new Date()), 50);
    try {
      await expect(Outbox.open(dir, fast)).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringMatching(/in use by process \d+ on other-container \(in another container or host/) });
      expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(foreign(process.pid)); // left alone
    } finally {
      clearInterval(beat);
    }
  });

  it('a LOCK of another pid namespace that is no longer refreshed is taken over after staleMs, and what the outbox held is replayed', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir);
    await box.append([{ msgId: 'm-7', body: new Uint8Array(20).fill(7), events: 1 }]);
    await box.close();
    writeFileSync(join(dir, 'LOCK'), foreign(4242)); // just written: fresh, then never refreshed (its holder is gone)
    const t0 = Date.now();
    const again = await Outbox.open(dir, fast);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
    expect((await again.peek())?.msgId).toBe('m-7');
    expect(parseLock(readFileSync(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: process.pid, legacy: false });
    await again.close();
  });

  it('an old LOCK of another pid namespace is taken over at once', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'LOCK'), foreign(4242));
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(dir, 'LOCK'), old, old);
    const t0 = Date.now();
    const box = await Outbox.open(dir, fast);
    expect(Date.now() - t0).toBeLessThan(500);
    await box.close();
  });

  it('the holder refreshes its LOCK while the outbox is open, and removes it on close', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir, fast);
    const path = join(dir, 'LOCK');
    expect(parseLock(readFileSync(path, 'utf8'))).toEqual({ ...ownIdentity(), legacy: false });
    const old = new Date(Date.now() - 60_000);
    utimesSync(path, old, old);
    await new Promise((r) => setTimeout(r, 300));
    expect(statSync(path).mtimeMs).toBeGreaterThan(Date.now() - 5_000);
    await box.close();
    expect(() => statSync(path)).toThrow();
  });

  it('a pid-only LOCK (agents before 2026-12-07) of a running process is refused; of a finished one, taken over', async () => {
    const dir = newDir();
    const child = spawn('sleep', ['30']);
    try {
      writeFileSync(join(dir, 'LOCK'), `${child.pid}\n`);
      await expect(Outbox.open(dir, fast)).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringMatching(/it is running/) });
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    const box = await Outbox.open(dir, fast);
    await box.close();
  });

  it('two agents taking over one stale LOCK of another container at the same moment: only one gets the outbox', async () => {
    // Found in a review: both judged it stale at the same deadline, and the second one's unlink
    // removed the LOCK the first had just created: both held the outbox (two writers).
    for (let trial = 0; trial < 5; trial++) {
      const dir = newDir();
      writeFileSync(join(dir, 'LOCK'), formatLock({ ...ownIdentity(), pid: 1, pidNs: 'pid:[1]', host: 'crashed-container' }));
      const outs = await Promise.all([agent(dir), agent(dir)]);
      expect(outs.every((o) => o === 'HELD' || o === 'REFUSED CONFIG'), outs.join(' | ')).toBe(true);
      expect(outs.filter((o) => o === 'HELD').length, `trial ${trial}: ${outs.join(', ')}`).toBe(1);
    }
  }, 60_000);

  it('a holder whose LOCK another process replaced stops writing to the outbox, and leaves that LOCK alone', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir, fast);
    await box.append([{ msgId: 'm-1', body: new Uint8Array(10).fill(1), events: 1 }]);
    const theirs = foreign(4242);
    writeFileSync(join(dir, 'LOCK'), theirs); // taken over while this holder was frozen, say
    await new Promise((r) => setTimeout(r, 200)); // a few heartbeats
    await expect(box.append([{ msgId: 'm-2', body: new Uint8Array(10).fill(2), events: 1 }])).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/no longer this agent's \(its LOCK now names process 4242 on other-container\)/),
    });
    await box.close();
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(theirs);
  });
});
