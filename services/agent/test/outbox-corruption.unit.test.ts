/**
 * The outbox after on-disk damage: a corrupt frame in the middle of a segment
 * costs only itself (and the bytes that are really damaged), never the
 * fsync'd, acknowledged frames after it; no frame failing its checksum is
 * ever replayed; what is skipped is kept aside, counted and logged; a torn
 * tail is still cut off.
 */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { Logger } from '@hwledger/core';
import { encodeFrame, Outbox, type OutboxEntry } from '@hwledger/agent';

const dirs: string[] = [];
const newDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'hwl-outbox-bad-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const entry = (i: number, size = 20): OutboxEntry => ({ msgId: `m-${i}`, body: new Uint8Array(size).fill(i % 251), events: 1 + (i % 3) });
const SEG = 'segment-000000000001.log';

/** A pino logger that keeps its lines (level as a name). */
function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug', formatters: { level: (label) => ({ level: label }) } }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

async function drainEntries(box: Outbox, max = Number.POSITIVE_INFINITY): Promise<OutboxEntry[]> {
  const out: OutboxEntry[] = [];
  while (out.length < max) {
    const e = await box.peek();
    if (!e) break;
    out.push(e);
    await box.commit();
  }
  return out;
}
const drain = async (box: Outbox, max?: number): Promise<string[]> => (await drainEntries(box, max)).map((e) => e.msgId);

/** An outbox dir holding `entries` in one segment; returns the dir, the segment path and each frame's offset. */
async function outboxWith(entries: readonly OutboxEntry[]): Promise<{ dir: string; seg: string; at: number[]; bytes: Buffer }> {
  const dir = newDir();
  const box = await Outbox.open(dir);
  await box.append(entries);
  await box.close();
  const at: number[] = [];
  let pos = 0;
  for (const e of entries) {
    at.push(pos);
    pos += encodeFrame(e).length;
  }
  const seg = join(dir, SEG);
  const bytes = readFileSync(seg);
  expect(bytes.length).toBe(pos);
  return { dir, seg, at, bytes };
}

const kept = (dir: string, kind: 'torn' | 'corrupt'): string[] =>
  readdirSync(dir)
    .filter((n) => n.includes(`.${kind}-`))
    .sort();

const ids = (...n: number[]): string[] => n.map((i) => `m-${i}`);

describe('Outbox: corrupt frames in the middle', () => {
  it('damaged checksum field: exactly that frame is skipped, logged with segment/offset/bytes, kept aside, counted', async () => {
    const es = [1, 2, 3, 4].map((i) => entry(i));
    const { dir, seg, at, bytes } = await outboxWith(es);
    const len2 = encodeFrame(es[1]!).length;
    bytes[at[1]! + 5] = bytes[at[1]! + 5]! ^ 0x10; // the stored CRC of frame 2
    writeFileSync(seg, bytes);
    const { logger, lines } = capturingLogger();
    const box = await Outbox.open(dir, { logger });
    expect(box.depthFrames).toBe(3);
    expect(await drain(box)).toEqual(ids(1, 3, 4));
    expect(box.quarantined).toEqual({ tornTails: 0, tornBytes: 0, corruptRegions: 1, corruptBytes: len2 });
    await box.close();
    const log = lines.filter((l) => String(l['msg']).includes('corrupt region'));
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ level: 'error', segment: seg, offset: at[1], bytes: len2, why: 'checksum mismatch', resync: 'length', keptAs: `${seg}.corrupt-${at[1]}` });
    expect(kept(dir, 'corrupt')).toEqual([`${SEG}.corrupt-${at[1]}`]);
    expect(readFileSync(join(dir, kept(dir, 'corrupt')[0]!))).toEqual(bytes.subarray(at[1]!, at[1]! + len2));
  });

  it.each([
    ['implausible (0xffffffff)', (_len: number, _to: number) => 0xffffffff],
    ['too short (3)', () => 3],
    ['a few bytes too long', (len: number) => len - 8 + 3],
    ['pointing exactly at a later frame (would skip valid frames if trusted)', (_len: number, toFrame5: number) => toFrame5 - 8],
    ['pointing beyond the end of the segment', () => 1_000_000],
  ])('damaged length field in the middle (%s): resynchronises on the next valid frame, nothing valid lost', async (_name, damaged) => {
    const es = [1, 2, 3, 4, 5, 6].map((i) => entry(i));
    const { dir, seg, at, bytes } = await outboxWith(es);
    const len2 = at[2]! - at[1]!;
    bytes.writeUInt32BE(damaged(len2, at[4]! - at[1]!), at[1]!);
    writeFileSync(seg, bytes);
    const { logger, lines } = capturingLogger();
    const box = await Outbox.open(dir, { logger });
    expect(await drain(box)).toEqual(ids(1, 3, 4, 5, 6));
    expect(box.quarantined.corruptBytes).toBe(len2);
    await box.close();
    // the payload and its stored checksum are intact: the true end of the frame is found by its checksum
    expect(lines.find((l) => String(l['msg']).includes('corrupt region'))).toMatchObject({ offset: at[1], bytes: len2, resync: 'checksum' });
    expect(readFileSync(join(dir, `${SEG}.corrupt-${at[1]}`))).toEqual(bytes.subarray(at[1]!, at[2]!));
  });

  it('damaged length and checksum fields in the middle: resynchronises by scanning forward', async () => {
    const es = [1, 2, 3, 4].map((i) => entry(i));
    const { dir, seg, at, bytes } = await outboxWith(es);
    bytes.fill(0xa5, at[1]!, at[1]! + 8); // the whole header of frame 2
    writeFileSync(seg, bytes);
    const { logger, lines } = capturingLogger();
    const box = await Outbox.open(dir, { logger });
    expect(await drain(box)).toEqual(ids(1, 3, 4));
    await box.close();
    expect(lines.find((l) => String(l['msg']).includes('corrupt region'))).toMatchObject({ offset: at[1], bytes: at[2]! - at[1]!, resync: 'scan' });
  });

  it('a frame-shaped byte string inside a damaged frame\'s event data is never taken for a frame', async () => {
    // A producer can put any bytes into event data, e.g. a complete outbox frame.
    const inner = encodeFrame({ msgId: 'forged', body: new Uint8Array([1, 2, 3]), events: 1 });
    const carrier: OutboxEntry = { msgId: 'm-2', body: new Uint8Array([9, 9, ...inner, 9, 9, 9]), events: 1 };
    const es = [entry(1), carrier, entry(3)];
    const { dir, seg, at, bytes } = await outboxWith(es);
    bytes.writeUInt32BE(0xffffffff, at[1]!); // the carrier's length field is damaged
    writeFileSync(seg, bytes);
    const box = await Outbox.open(dir);
    expect(await drain(box)).toEqual(ids(1, 3));
    await box.close();
  });

  it('a frame-shaped byte string inside the last frame, whose length field is damaged, is never taken for a frame', async () => {
    const inner = encodeFrame({ msgId: 'forged', body: new Uint8Array([1, 2, 3]), events: 1 });
    const carrier: OutboxEntry = { msgId: 'm-2', body: new Uint8Array([9, 9, ...inner, 9, 9, 9]), events: 1 };
    const { dir, seg, at, bytes } = await outboxWith([entry(1), carrier]);
    bytes.writeUInt32BE(0xffffffff, at[1]!); // the carrier's length field is damaged; its payload and checksum are intact
    writeFileSync(seg, bytes);
    const { logger, lines } = capturingLogger();
    const box = await Outbox.open(dir, { logger });
    expect(await drain(box)).toEqual(ids(1));
    expect(box.quarantined).toEqual({ tornTails: 0, tornBytes: 0, corruptRegions: 1, corruptBytes: bytes.length - at[1]! });
    await box.close();
    // the stored checksum matches the carrier's bytes up to the end of the segment: that is its end
    expect(lines.find((l) => String(l['msg']).includes('corrupt region'))).toMatchObject({ offset: at[1], bytes: bytes.length - at[1]!, resync: 'checksum' });
  });

  it('several corrupt frames (adjacent and apart) and garbage across a frame boundary: only the damaged frames are lost, in order', async () => {
    const es = Array.from({ length: 10 }, (_, i) => entry(i + 1, 10 + i * 7));
    const { dir, seg, at, bytes } = await outboxWith(es);
    const flip = (frame: number, off: number): void => void (bytes[at[frame]! + off] = bytes[at[frame]! + off]! ^ 0x01);
    flip(1, 15); // m-2 payload
    flip(2, 2); // m-3 length
    flip(5, 30); // m-6 payload
    bytes.fill(0, at[8]! - 4, at[8]! + 6); // garbage over the end of m-8 and the start of m-9
    writeFileSync(seg, bytes);
    const box = await Outbox.open(dir);
    expect(await drain(box)).toEqual(ids(1, 4, 5, 7, 10));
    expect(box.quarantined.corruptRegions).toBe(3);
    expect(box.quarantined.corruptBytes).toBe(at[3]! - at[1]! + (at[6]! - at[5]!) + (at[9]! - at[7]!));
    await box.close();
    expect(kept(dir, 'corrupt')).toEqual([`${SEG}.corrupt-${at[1]}`, `${SEG}.corrupt-${at[5]}`, `${SEG}.corrupt-${at[7]}`].sort());
  });

  it('the damaged region stays skipped across restarts: no duplicate, no loss, nothing kept twice; draining deletes the segment', async () => {
    const es = [1, 2, 3, 4, 5].map((i) => entry(i));
    const { dir, seg, at, bytes } = await outboxWith(es);
    bytes[at[2]! + 12] = bytes[at[2]! + 12]! ^ 0x80;
    writeFileSync(seg, bytes);
    const { logger, lines } = capturingLogger();
    const box = await Outbox.open(dir, { saveEvery: 1, logger });
    expect(await drain(box, 2)).toEqual(ids(1, 2)); // flushed offset saved at the start of the damaged frame
    await box.close();
    const again = await Outbox.open(dir, { logger });
    expect(again.depthFrames).toBe(2);
    await again.append([entry(6)]); // appended after the surviving frames
    expect(await drain(again)).toEqual(ids(4, 5, 6));
    await again.close();
    expect(lines.filter((l) => String(l['msg']).includes('not a frame boundary'))).toEqual([]);
    expect(kept(dir, 'corrupt')).toEqual([`${SEG}.corrupt-${at[2]}`]);
    expect(readdirSync(dir).filter((n) => n.startsWith('segment-'))).not.toContain(SEG);
  });

  it('corruption in already flushed frames does not disturb the pending ones (and is only a warning)', async () => {
    const es = [1, 2, 3, 4].map((i) => entry(i));
    const { dir, seg, at, bytes } = await outboxWith(es);
    const box = await Outbox.open(dir, { saveEvery: 1 });
    expect(await drain(box, 2)).toEqual(ids(1, 2));
    await box.close();
    bytes[at[0]! + 3] = bytes[at[0]! + 3]! ^ 0x04; // m-1's length, already published
    writeFileSync(seg, bytes);
    const { logger, lines } = capturingLogger();
    const again = await Outbox.open(dir, { logger });
    expect(await drain(again)).toEqual(ids(3, 4));
    await again.close();
    expect(lines.find((l) => String(l['msg']).includes('corrupt region'))).toMatchObject({ level: 'warn', alreadyFlushed: true, offset: 0 });
  });

  it('readPending skips a corrupt region and lists the frames after it', async () => {
    const es = [1, 2, 3].map((i) => entry(i));
    const { dir, seg, at, bytes } = await outboxWith(es);
    bytes[at[1]! + 9] = bytes[at[1]! + 9]! ^ 0xff;
    writeFileSync(seg, bytes);
    expect((await Outbox.readPending(dir)).map((e) => e.msgId)).toEqual(ids(1, 3));
  });

  it('a corrupt region in an older segment is skipped; the newer segment follows in order', async () => {
    const dir = newDir();
    const f = (i: number): Buffer => encodeFrame(entry(i));
    const older = Buffer.concat([f(1), f(2), f(3)]);
    older[f(1).length + 11] = older[f(1).length + 11]! ^ 0x01;
    writeFileSync(join(dir, SEG), older);
    writeFileSync(join(dir, 'segment-000000000002.log'), Buffer.concat([f(4), f(5)]));
    const box = await Outbox.open(dir);
    expect(await drain(box)).toEqual(ids(1, 3, 4, 5));
    await box.close();
  });
});

describe('Outbox: corrupt last frame vs torn tail', () => {
  it('a complete last frame failing its checksum is cut off and kept as .corrupt (it may have been acknowledged); appends continue after the valid frames', async () => {
    const es = [1, 2, 3].map((i) => entry(i));
    const { dir, seg, at, bytes } = await outboxWith(es);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01;
    writeFileSync(seg, bytes);
    const { logger, lines } = capturingLogger();
    const box = await Outbox.open(dir, { logger });
    expect(box.quarantined).toEqual({ tornTails: 0, tornBytes: 0, corruptRegions: 1, corruptBytes: bytes.length - at[2]! });
    await box.append([entry(4)]);
    expect(await drain(box)).toEqual(ids(1, 2, 4));
    await box.close();
    expect(kept(dir, 'torn')).toEqual([]);
    expect(readFileSync(join(dir, `${SEG}.corrupt-${at[2]}`))).toEqual(bytes.subarray(at[2]!));
    expect(lines.find((l) => String(l['msg']).includes('corrupt region'))).toMatchObject({ level: 'error', resync: 'none' });
  });

  it('an incomplete last frame is a torn tail: cut off, kept as .torn, a warning, not counted as corruption', async () => {
    const es = [1, 2].map((i) => entry(i));
    const { dir, seg } = await outboxWith(es);
    const partial = encodeFrame(entry(3)).subarray(0, 17);
    appendFileSync(seg, partial);
    const { logger, lines } = capturingLogger();
    const box = await Outbox.open(dir, { logger });
    expect(box.quarantined).toEqual({ tornTails: 1, tornBytes: 17, corruptRegions: 0, corruptBytes: 0 });
    expect(await drain(box)).toEqual(ids(1, 2));
    await box.close();
    expect(kept(dir, 'corrupt')).toEqual([]);
    expect(lines.find((l) => String(l['msg']).includes('incomplete last frame'))).toMatchObject({ level: 'warn', bytes: 17 });
  });

  it('a corrupt frame in the middle and a torn tail together: the frames between are kept', async () => {
    const es = [1, 2, 3, 4].map((i) => entry(i));
    const { dir, seg, at, bytes } = await outboxWith(es);
    bytes[at[1]! + 20] = bytes[at[1]! + 20]! ^ 0x01;
    writeFileSync(seg, Buffer.concat([bytes, encodeFrame(entry(5)).subarray(0, 30)]));
    const box = await Outbox.open(dir);
    expect(box.quarantined).toMatchObject({ tornTails: 1, tornBytes: 30, corruptRegions: 1 });
    expect(await drain(box)).toEqual(ids(1, 3, 4));
    await box.close();
  });
});

describe('Outbox: random damage (property)', () => {
  const damage = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('garbage' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
    fc.record({ kind: fc.constant('zero' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 24 }) }),
  );
  const scenario = fc.record({
    bodies: fc.array(fc.uint8Array({ minLength: 1, maxLength: 90 }), { minLength: 1, maxLength: 14 }),
    damages: fc.array(damage, { minLength: 0, maxLength: 4 }),
    tornTail: fc.nat({ max: 40 }),
  });

  it('every frame with intact bytes is replayed exactly once, in order; no damaged frame is ever replayed; appends still work', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ bodies, damages, tornTail }) => {
        const es: OutboxEntry[] = bodies.map((body, i) => ({ msgId: `m-${i}`, body, events: 1 + (i % 5) }));
        const dir = newDir();
        const box = await Outbox.open(dir);
        await box.append(es);
        await box.close();
        const seg = join(dir, SEG);
        const orig = readFileSync(seg);
        const bad = Buffer.from(orig);
        for (const d of damages) {
          const at = d.at % orig.length;
          if (d.kind === 'flip') bad[at] = bad[at]! ^ d.mask;
          else if (d.kind === 'garbage') bad.set(d.bytes.subarray(0, orig.length - at), at);
          else bad.fill(0, at, Math.min(orig.length, at + d.len));
        }
        const torn = tornTail > 0 ? encodeFrame({ msgId: 'torn', body: new Uint8Array(40).fill(7), events: 1 }).subarray(0, tornTail) : new Uint8Array(0);
        writeFileSync(seg, Buffer.concat([bad, torn]));
        // The expectation: exactly the frames whose bytes are unchanged, in order.
        const intact: OutboxEntry[] = [];
        let pos = 0;
        for (const e of es) {
          const len = encodeFrame(e).length;
          if (orig.subarray(pos, pos + len).equals(bad.subarray(pos, pos + len))) intact.push(e);
          pos += len;
        }
        const again = await Outbox.open(dir);
        expect(again.depthFrames).toBe(intact.length);
        await again.append([{ msgId: 'after', body: new Uint8Array([1]), events: 1 }]);
        const got = await drainEntries(again);
        await again.close();
        expect(got.map((e) => e.msgId)).toEqual([...intact.map((e) => e.msgId), 'after']);
        for (let i = 0; i < intact.length; i++) {
          expect(got[i]!.body).toEqual(intact[i]!.body);
          expect(got[i]!.events).toBe(intact[i]!.events);
        }
        const damaged = es.length - intact.length;
        const q = again.quarantined;
        if (damaged > 0) expect(q.corruptRegions + q.tornTails).toBeGreaterThan(0);
        if (damaged === 0 && tornTail === 0) expect(q).toEqual({ tornTails: 0, tornBytes: 0, corruptRegions: 0, corruptBytes: 0 });
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 100 },
    );
  });
});

describe('Outbox: the last frame damaged vs torn', () => {
  it('a damaged length field in the last frame is corrupt (it may have been acknowledged), not a torn append', async () => {
    const es = [1, 2].map((i) => entry(i));
    const { dir, seg, at, bytes } = await outboxWith(es);
    bytes[at[1]!] = 0x80; // length byte 0 of the last frame: implausible length
    writeFileSync(seg, bytes);
    const box = await Outbox.open(dir);
    expect(await drain(box)).toEqual(ids(1));
    expect(box.quarantined).toMatchObject({ tornTails: 0, corruptRegions: 1, corruptBytes: bytes.length - at[1]! });
    await box.close();
  });

  it.each([
    ['at the end of the segment', 0],
    ['followed by a torn append', 17],
  ])('a grown length field in the last frame (still under the bound, so it reads as running past the end) is corrupt when its stored checksum matches its bytes (%s)', async (_name, tornBytes) => {
    const es = [1, 2].map((i) => entry(i));
    const { dir, seg, at, bytes } = await outboxWith(es);
    bytes.writeUInt32BE(bytes.readUInt32BE(at[1]!) + 1000, at[1]!); // the last frame's length field is damaged, its payload is intact
    const file = Buffer.concat([bytes, encodeFrame(entry(3)).subarray(0, tornBytes)]);
    writeFileSync(seg, file);
    const { logger, lines } = capturingLogger();
    const box = await Outbox.open(dir, { logger });
    expect(await drain(box)).toEqual(ids(1));
    expect(box.quarantined).toEqual({ tornTails: 0, tornBytes: 0, corruptRegions: 1, corruptBytes: file.length - at[1]! });
    await box.close();
    expect(kept(dir, 'torn')).toEqual([]);
    expect(kept(dir, 'corrupt')).toEqual([`${SEG}.corrupt-${at[1]}`]);
    expect(lines.find((l) => String(l['msg']).includes('corrupt region'))).toMatchObject({
      level: 'error',
      offset: at[1],
      why: expect.stringContaining('damaged length field') as unknown,
      resync: 'none',
    });
  });

  it('a zero-filled tail (the size grew before the data reached the disk) is a torn append', async () => {
    const es = [1, 2].map((i) => entry(i));
    const { dir, seg, bytes } = await outboxWith(es);
    writeFileSync(seg, Buffer.concat([bytes, Buffer.alloc(100)]));
    const box = await Outbox.open(dir);
    expect(await drain(box)).toEqual(ids(1, 2));
    expect(box.quarantined).toMatchObject({ tornTails: 1, tornBytes: 100, corruptRegions: 0 });
    await box.close();
  });
});
