/**
 * A holder whose LOCK was taken over (frozen past staleMs while another
 * container took the outbox) must stop changing the outbox. It refused
 * appends, but its flush path (peek, then commit, then roll/save) still wrote
 * flushed.json, started a new segment and deleted the segment the new holder
 * was appending to: frames the new holder had accepted (fsync'd,
 * acknowledged) were gone (found by a review helper). Now every change reads
 * the LOCK first, without waiting for the next heartbeat.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Outbox } from '@hwledger/agent';
import { formatLock, ownIdentity } from '../src/outbox-lock.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('outbox LOCK lost', () => {
  it('the old holder, after losing its LOCK, does not delete or skip frames the new holder accepted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hwl-r2-lock-'));
    dirs.push(dir);
    const fast = { lock: { heartbeatMs: 50, staleMs: 300 } };
    const a = await Outbox.open(dir, fast);
    await a.append([{ msgId: 'm-1', body: new Uint8Array(10).fill(1), events: 1 }]);
    // A publishes m-1 (peek, PubAck pending) and is frozen; another container judges its LOCK stale and takes over.
    expect((await a.peek())?.msgId).toBe('m-1');
    writeFileSync(join(dir, 'LOCK'), formatLock({ ...ownIdentity(), pid: 4242, pidNs: 'pid:[1]', host: 'other-container' }));
    await new Promise((r) => setTimeout(r, 200)); // A's heartbeat sees the LOCK is no longer its own
    await expect(a.append([{ msgId: 'x', body: new Uint8Array(10), events: 1 }])).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    // The new holder (its LOCK no longer refreshed by container 4242 here: it is the one that opens now).
    const b = await Outbox.open(dir, fast);
    await b.append([{ msgId: 'm-2', body: new Uint8Array(10).fill(2), events: 1 }]); // accepted by B: fsync'd
    expect(b.depthFrames).toBe(2);
    // A resumes: its PubAck for m-1 arrives and its shipper commits: refused, nothing changes.
    await expect(a.commit()).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/no longer this agent's \(its LOCK now names process/) });
    // B crashes (kill -9): nothing more is written by it. What does the directory hold for its next start?
    const pending = await Outbox.readPending(dir);
    const files = readdirSync(dir).sort();
    await a.close();
    expect(existsSync(join(dir, 'segment-000000000001.log')), `files now: ${files.join(', ')}`).toBe(true);
    expect(pending.map((e) => e.msgId), `files now: ${files.join(', ')}`).toContain('m-2');
    await b.close();
  });

  it('refuses the change before its next heartbeat has noticed the LOCK is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hwl-lock-lost-'));
    dirs.push(dir);
    const a = await Outbox.open(dir, { lock: { heartbeatMs: 600_000, staleMs: 300 } });
    await a.append([{ msgId: 'm-1', body: new Uint8Array(10).fill(1), events: 1 }]);
    expect((await a.peek())?.msgId).toBe('m-1');
    writeFileSync(join(dir, 'LOCK'), formatLock({ ...ownIdentity(), pid: 4242, pidNs: 'pid:[1]', host: 'other-container' }));
    const before = readdirSync(dir).sort();
    await expect(a.commit()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(a.append([{ msgId: 'x', body: new Uint8Array(10), events: 1 }])).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await a.close();
    // Nothing rolled, saved or deleted; the other process's LOCK is still there.
    expect(readdirSync(dir).sort()).toEqual(before);
    expect((await Outbox.readPending(dir)).map((e) => e.msgId)).toEqual(['m-1']);
  });
});
