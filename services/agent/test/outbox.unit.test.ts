/** The outbox on a real file system: FIFO, fsync'd position across reopen, torn tails cut safely, locking, size bound. */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeFrame, Outbox, OutboxFullError, type OutboxEntry } from '@hwledger/agent';

const dirs: string[] = [];
const newDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'hwl-outbox-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const entry = (i: number, size = 20): OutboxEntry => ({ msgId: `m-${i}`, body: new Uint8Array(size).fill(i % 251), events: 1 + (i % 3) });

async function drain(box: Outbox, max = Number.POSITIVE_INFINITY): Promise<string[]> {
  const out: string[] = [];
  while (out.length < max) {
    const e = await box.peek();
    if (!e) break;
    out.push(e.msgId);
    await box.commit();
  }
  return out;
}

const segments = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('segment-') && n.endsWith('.log'));

describe('Outbox', () => {
  it('is FIFO; peek is stable until commit; depth counts events', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir);
    await box.append([entry(1), entry(2)]);
    await box.append([entry(3)]);
    expect(box.depthFrames).toBe(3);
    expect(box.depthEvents).toBe(2 + 3 + 1);
    expect((await box.peek())!.msgId).toBe('m-1');
    expect((await box.peek())!.msgId).toBe('m-1');
    expect(await drain(box)).toEqual(['m-1', 'm-2', 'm-3']);
    expect(box.isEmpty).toBe(true);
    expect(box.depthEvents).toBe(0);
    await box.close();
  });

  it('a reopen resumes after the last saved flush position, nothing lost, at most the unsaved tail replayed', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir, { saveEvery: 1_000_000, saveEveryMs: 1_000_000 });
    await box.append(Array.from({ length: 10 }, (_, i) => entry(i)));
    expect(await drain(box, 4)).toEqual(['m-0', 'm-1', 'm-2', 'm-3']);
    await box.close(); // clean close saves the position
    const again = await Outbox.open(dir);
    expect(again.depthFrames).toBe(6);
    expect(await drain(again)).toEqual(['m-4', 'm-5', 'm-6', 'm-7', 'm-8', 'm-9']);
    await again.close();
    const third = await Outbox.open(dir);
    expect(third.isEmpty).toBe(true);
    await third.close();
  });

  it('without a clean close (crash), replays from the last saved position: a prefix re-sent, nothing lost', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir, { saveEvery: 3, saveEveryMs: 1_000_000 });
    await box.append(Array.from({ length: 10 }, (_, i) => entry(i)));
    expect(await drain(box, 5)).toHaveLength(5); // position saved after 3
    // simulate a crash: drop the lock as a dead process would leave it, never close
    rmSync(join(dir, 'LOCK'));
    const after = await Outbox.open(dir);
    expect(await drain(after)).toEqual(['m-3', 'm-4', 'm-5', 'm-6', 'm-7', 'm-8', 'm-9']);
    await after.close();
  });

  it('draining starts a fresh segment and deletes the flushed one', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir);
    await box.append([entry(1), entry(2)]);
    const before = segments(dir);
    await drain(box);
    const after = segments(dir);
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before[0]);
    expect(statSync(join(dir, after[0]!)).size).toBe(0);
    await box.append([entry(3)]);
    await box.close();
    const again = await Outbox.open(dir);
    expect(await drain(again)).toEqual(['m-3']);
    await again.close();
  });

  it('a torn tail (crash mid-append) is cut at every possible tear point; complete frames survive', async () => {
    const full = encodeFrame(entry(99, 64));
    for (let cut = 1; cut < full.length; cut++) {
      const dir = newDir();
      const box = await Outbox.open(dir);
      await box.append([entry(1), entry(2)]);
      await box.close();
      const seg = join(dir, segments(dir)[0]!);
      appendFileSync(seg, full.subarray(0, cut));
      const again = await Outbox.open(dir);
      expect(again.depthFrames).toBe(2);
      expect(await drain(again)).toEqual(['m-1', 'm-2']);
      await again.close();
      const torn = readdirSync(dir).filter((n) => n.includes('.torn-'));
      expect(torn).toHaveLength(1);
      expect(readFileSync(join(dir, torn[0]!))).toEqual(full.subarray(0, cut));
    }
  });

  it('a corrupted frame (checksum) in the middle is skipped and kept aside; the acknowledged frames after it are replayed', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir);
    await box.append([entry(1), entry(2), entry(3)]);
    await box.close();
    const segName = segments(dir)[0]!;
    const seg = join(dir, segName);
    const bytes = readFileSync(seg);
    const second = encodeFrame(entry(1)).length;
    const secondLen = encodeFrame(entry(2)).length;
    bytes[second + 20] = bytes[second + 20]! ^ 0xff; // flip a body byte of frame 2
    writeFileSync(seg, bytes);
    const again = await Outbox.open(dir);
    expect(again.depthFrames).toBe(2);
    expect(await drain(again)).toEqual(['m-1', 'm-3']);
    expect(again.quarantined).toEqual({ tornTails: 0, tornBytes: 0, corruptRegions: 1, corruptBytes: secondLen });
    await again.close();
    expect(readdirSync(dir).filter((n) => n.includes('.torn-'))).toEqual([]);
    const kept = readdirSync(dir).filter((n) => n.includes('.corrupt-'));
    expect(kept).toEqual([`${segName}.corrupt-${second}`]);
    expect(readFileSync(join(dir, kept[0]!))).toEqual(bytes.subarray(second, second + secondLen)); // exactly the bad frame
  });

  it('an unreadable flushed.json replays everything (Nats-Msg-Id dedups) instead of losing anything', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir, { saveEvery: 1 });
    await box.append([entry(1), entry(2), entry(3)]);
    await drain(box, 1);
    await box.close();
    writeFileSync(join(dir, 'flushed.json'), '{garbage');
    const again = await Outbox.open(dir);
    expect(await drain(again)).toEqual(['m-1', 'm-2', 'm-3']);
    await again.close();
  });

  it('one process per outbox: a live holder is refused, a dead one\'s lock is taken over', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir);
    await expect(Outbox.open(dir)).rejects.toMatchObject({ code: 'CONFIG' });
    await box.close();
    writeFileSync(join(dir, 'LOCK'), '2147483646\n'); // no such pid
    const again = await Outbox.open(dir);
    await again.close();
  });

  it('refuses appends past maxBytes with OutboxFullError and stores nothing of them', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir, { maxBytes: 200 });
    await box.append([entry(1, 100)]);
    await expect(box.append([entry(2, 100)])).rejects.toBeInstanceOf(OutboxFullError);
    expect(box.depthFrames).toBe(1);
    expect(await drain(box)).toEqual(['m-1']);
    await box.close();
  });

  it('readPending lists what a (crashed) agent left, without taking the lock', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir, { saveEvery: 1 });
    await box.append([entry(1), entry(2), entry(3)]);
    await drain(box, 1);
    expect((await Outbox.readPending(dir)).map((e) => e.msgId)).toEqual(['m-2', 'm-3']);
    await box.close();
  });
});
