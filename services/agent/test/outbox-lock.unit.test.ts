/**
 * The outbox's LOCK after a crash when the next start has the same pid: in a
 * container the agent is pid 1 (Dockerfile ENTRYPOINT node ...) on every
 * start, so the LOCK a kill -9 / OOM kill / power loss left behind holds the
 * pid of the new process itself. That lock is stale (no other agent holds
 * it); a second open in the same process is still refused.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Outbox } from '@hwledger/agent';

const dirs: string[] = [];
const newDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'hwl-outbox-lock-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('Outbox lock', () => {
  it('a LOCK left by a crashed earlier process with this same pid (pid 1 in a container) is taken over, and what it held is replayed', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir);
    await box.append([{ msgId: 'm-1', body: new Uint8Array(20).fill(1), events: 1 }]);
    await box.close();
    // What kill -9 of the earlier incarnation leaves: its fsync'd frames and its LOCK, holding
    // its pid, which the restarted agent gets again.
    writeFileSync(join(dir, 'LOCK'), `${process.pid}\n`);
    const again = await Outbox.open(dir);
    expect(again.depthFrames).toBe(1);
    expect((await again.peek())?.msgId).toBe('m-1');
    expect(readFileSync(join(dir, 'LOCK'), 'utf8').trim()).toBe(String(process.pid));
    await again.close();
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
});
