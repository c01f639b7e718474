/**
 * File-system errors (EIO, ENOSPC) met while opening an outbox (found in a
 * review: each made Outbox.open reject, so the agent exited at every start).
 * node:fs/promises is wrapped only to inject one error code at one call; the
 * outbox under test is the real one, on a real directory.
 *
 * - a bad sector in a segment reads as EIO (a disk does not hand back
 *   garbage for it): Outbox.open must not reject, or the agent exits at
 *   every start (crash loop) and every acknowledged frame, including those
 *   of other, intact segments, stays undelivered. Now the unreadable
 *   segment is set aside whole (`.unreadable`, logged, counted).
 * - a full disk while the quarantine copy of a torn tail is written: the
 *   outbox must still open (the torn tail was never acknowledged), or the
 *   agent cannot start to flush its backlog. Now the region stays in the
 *   segment, skipped (never replayed), instead of failing the open.
 */
import { appendFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { encodeFrame, Outbox, type OutboxEntry } from '@hwledger/agent';

const fault = vi.hoisted(() => ({
  /** EIO on reads of a path ending with `path` that touch byte `at`. */
  readEio: undefined as { path: string; at: number } | undefined,
  /** ENOSPC on writeFile of a path containing `includes`. */
  writeEnospc: undefined as { includes: string } | undefined,
}));

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const err = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: injected`), { code });
  const open = async (...args: Parameters<typeof real.open>): Promise<import('node:fs/promises').FileHandle> => {
    const fh = await real.open(...args);
    const path = String(args[0]);
    const read = fh.read.bind(fh) as (...a: unknown[]) => Promise<{ bytesRead: number; buffer: unknown }>;
    (fh as unknown as { read: unknown }).read = async (...a: unknown[]) => {
      const f = fault.readEio;
      if (f && path.endsWith(f.path) && typeof a[3] === 'number' && typeof a[2] === 'number') {
        const pos = a[3];
        const len = a[2];
        if (pos <= f.at && f.at < pos + len) throw err('EIO');
      }
      return read(...a);
    };
    const writeFile = fh.writeFile.bind(fh) as (...a: unknown[]) => Promise<void>;
    (fh as unknown as { writeFile: unknown }).writeFile = async (...a: unknown[]) => {
      const f = fault.writeEnospc;
      if (f && path.includes(f.includes)) throw err('ENOSPC');
      return writeFile(...a);
    };
    return fh;
  };
  return { ...real, default: { ...real, open }, open };
});

const dirs: string[] = [];
const newDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'hwl-fsfault-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
afterEach(() => {
  fault.readEio = undefined;
  fault.writeEnospc = undefined;
});

const entry = (i: number): OutboxEntry => ({ msgId: `m-${i}`, body: new Uint8Array(40).fill(i), events: 1 });
const seg = (gen: number): string => `segment-${String(gen).padStart(12, '0')}.log`;

async function drain(box: Outbox): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const e = await box.peek();
    if (!e) break;
    out.push(e.msgId);
    await box.commit();
  }
  return out;
}

describe('file-system errors at open', () => {
  it('an unreadable sector (EIO) in one segment does not make the outbox unopenable; the intact segment after it is delivered', async () => {
    const dir = newDir();
    const f = [1, 2, 3].map((i) => encodeFrame(entry(i)));
    writeFileSync(join(dir, seg(1)), Buffer.concat(f));
    writeFileSync(join(dir, seg(2)), Buffer.concat([4, 5].map((i) => encodeFrame(entry(i)))));
    fault.readEio = { path: seg(1), at: f[0]!.length + 10 }; // inside frame m-2
    let box: Outbox | undefined;
    let openError: unknown;
    try {
      box = await Outbox.open(dir);
    } catch (e) {
      openError = e;
    }
    expect(openError).toBeUndefined();
    const got = await drain(box!);
    expect(got).toEqual(expect.arrayContaining(['m-4', 'm-5']));
    expect(got.indexOf('m-4')).toBeLessThan(got.indexOf('m-5'));
    await box!.close();
    expect(readdirSync(dir)).toContain(`${seg(1)}.unreadable`); // kept for recovery by hand
    expect(box!.quarantined.corruptRegions).toBe(1);
  });

  it('a full disk (ENOSPC) while keeping a torn tail aside does not make the outbox unopenable; the acknowledged frames are delivered', async () => {
    const dir = newDir();
    const box0 = await Outbox.open(dir);
    await box0.append([entry(1), entry(2)]);
    await box0.close();
    // A crash in the middle of the next append: half a frame at the end.
    appendFileSync(join(dir, seg(1)), encodeFrame(entry(3)).subarray(0, 30));
    fault.writeEnospc = { includes: '.torn-' };
    let box: Outbox | undefined;
    let openError: unknown;
    try {
      box = await Outbox.open(dir);
    } catch (e) {
      openError = e;
    }
    expect(openError).toBeUndefined();
    expect(await drain(box!)).toEqual(['m-1', 'm-2']);
    // Appends go on (once drained, the segment holding the never-acknowledged torn bytes is
    // rotated away like any flushed one); a restart delivers what came after.
    await box!.append([entry(4)]);
    await box!.close();
    fault.writeEnospc = undefined;
    const again = await Outbox.open(dir);
    expect(await drain(again)).toEqual(['m-4']);
    await again.close();
  });
});
