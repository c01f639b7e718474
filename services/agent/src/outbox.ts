/**
 * The agent's outbox: a local, append-only FIFO of ingest batches that could
 * not be (or, while older ones wait, must not yet be) published. An append
 * returns only after the bytes are fsync'd, so an event is "accepted" only
 * when a crash can no longer lose it. Batches are replayed strictly in order
 * with their original Nats-Msg-Id, so a batch published just before a crash
 * and replayed after it is dropped by the ingest stream's duplicate window.
 *
 * On disk (`dir`):
 *   segment-<gen>.log   frames (outbox-frame.ts), appended to the newest segment
 *   flushed.json        {"segment":gen,"offset":n}: everything before it was
 *                       PubAck'ed (written tmp + fsync + rename + dir fsync)
 *   LOCK                the agent using the outbox: one writer per dir (outbox-lock.ts)
 *   *.torn-<offset>     an incomplete last frame (crash mid-append) cut off a segment
 *   *.corrupt-<offset>  a damaged region (frames failing their checksum) found at
 *                       load: skipped, never replayed; the valid frames after it
 *                       are kept and replayed in order (outbox-scan.ts)
 *
 * The flushed offset is saved every `saveEvery` frames / `saveEveryMs` and
 * when the outbox drains; a crash re-publishes at most the batches flushed
 * since the last save, which the ingest stream deduplicates by Nats-Msg-Id
 * (within its duplicate window, 10 min by default). When the outbox drains,
 * a fresh segment is started and the flushed one deleted.
 */
import { mkdir, open, readdir, readFile, realpath, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { HwlError, silentLogger, type Logger } from '@hwledger/core';
import { decodeFramePayload, encodeFrame, FRAME_HEADER_BYTES, readFrameHeader, type OutboxEntry } from './outbox-frame.js';
import { scanSegment, SegmentReader, type BadRegion, type SegmentScan } from './outbox-scan.js';
import { OutboxLock, type OutboxLockOptions } from './outbox-lock.js';

export type { OutboxEntry } from './outbox-frame.js';

const SEGMENT_RE = /^segment-([0-9]{12})\.log$/;
const segmentName = (gen: number): string => `segment-${String(gen).padStart(12, '0')}.log`;
const FLUSHED = 'flushed.json';

interface Segment {
  gen: number;
  path: string;
  size: number;
  /** Damaged regions inside the segment (valid frames follow them), skipped when reading. */
  skips: { pos: number; end: number }[];
}

/** What the outbox set aside at open because it was unreadable (never replayed). */
export interface OutboxQuarantine {
  /** Incomplete last frames cut off (a crash in the middle of an append: never acknowledged). */
  tornTails: number;
  tornBytes: number;
  /** Damaged regions (frames failing their checksum, possibly acknowledged ones) skipped or cut off. */
  corruptRegions: number;
  corruptBytes: number;
}

export interface OutboxOptions {
  logger?: Logger;
  /** Refuse appends (OutboxFullError) beyond this many pending bytes. Default 1 GiB. */
  maxBytes?: number;
  /** Save the flushed offset after this many frames (default 32) ... */
  saveEvery?: number;
  /** ... or this many ms since the last save (default 50). */
  saveEveryMs?: number;
  /** The LOCK's heartbeat and staleness (outbox-lock.ts; tests). */
  lock?: OutboxLockOptions;
}

/** The outbox refused an append because it is full (`--outbox-max-bytes`). */
export class OutboxFullError extends HwlError {
  constructor(message: string) {
    super('UNAVAILABLE', message);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function readExactly(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

async function scanFile(fh: FileHandle, size: number): Promise<SegmentScan> {
  return scanSegment(new SegmentReader(fh, size));
}

/** Writes quarantined bytes beside the segment (fsync'd), never overwriting different bytes kept earlier. */
async function keepAside(base: string, bytes: Uint8Array): Promise<string> {
  for (let n = 0; ; n++) {
    const path = n === 0 ? base : `${base}.${n}`;
    let fh: FileHandle;
    try {
      fh = await open(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const old = await readFile(path).catch(() => undefined);
      if (old && Buffer.compare(old, bytes) === 0) return path; // the same region, found again at an earlier start
      continue;
    }
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return path;
  }
}

export class Outbox {
  private readonly logger: Logger;
  private readonly maxBytes: number;
  private readonly saveEvery: number;
  private readonly saveEveryMs: number;
  private writer!: FileHandle;
  private readonly readers = new Map<number, FileHandle>();
  private cursor = { idx: 0, offset: 0 };
  private peeked: { entry: OutboxEntry; len: number } | undefined;
  private frames = 0;
  private events = 0;
  private bytes = 0;
  private sinceSave = 0;
  private lastSave = 0;
  private closed = false;
  /** Its LOCK, held from open() until close(). */
  private held: OutboxLock | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  private readonly stats: OutboxQuarantine = { tornTails: 0, tornBytes: 0, corruptRegions: 0, corruptBytes: 0 };

  private constructor(
    readonly dir: string,
    private segments: Segment[],
    opts: OutboxOptions,
  ) {
    this.logger = opts.logger ?? silentLogger();
    this.maxBytes = opts.maxBytes ?? 1024 * 1024 * 1024;
    this.saveEvery = opts.saveEvery ?? 32;
    this.saveEveryMs = opts.saveEveryMs ?? 50;
  }

  /**
   * Opens (creating) the outbox in `dir` and takes its lock. Each segment is
   * scanned (outbox-scan.ts): a torn or corrupt tail is cut off, a corrupt
   * region followed by valid frames is skipped; both are kept aside and
   * logged, and only frames whose checksum verifies are ever replayed.
   */
  static async open(dir: string, opts: OutboxOptions = {}): Promise<Outbox> {
    await mkdir(dir, { recursive: true });
    const real = await realpath(dir);
    const held = await OutboxLock.take(real, opts.lock, opts.logger);
    try {
      const box = new Outbox(dir, [], opts);
      box.held = held;
      await box.load();
      return box;
    } catch (e) {
      await held.release();
      throw e;
    }
  }

  /**
   * The pending (not yet flushed) entries of an outbox directory, in order,
   * without locking or repairing it (inspection and tests).
   */
  static async readPending(dir: string): Promise<OutboxEntry[]> {
    const segs = await listSegments(dir);
    const saved = consistentSaved(await readSaved(dir), segs);
    const out: OutboxEntry[] = [];
    for (const seg of segs) {
      if (saved && seg.gen < saved.segment) continue;
      const from = saved && seg.gen === saved.segment ? saved.offset : 0;
      const fh = await open(seg.path, 'r');
      try {
        const scan = await scanFile(fh, seg.size);
        for (const f of scan.frames) {
          if (f.pos < from) continue;
          const h = readFrameHeader(await readExactly(fh, f.pos, FRAME_HEADER_BYTES));
          if (!h.ok) continue;
          const d = decodeFramePayload(await readExactly(fh, f.pos + FRAME_HEADER_BYTES, h.payloadLen), h.crc);
          if (d.ok) out.push(d.entry);
        }
      } finally {
        await fh.close();
      }
    }
    return out;
  }

  /** Batches waiting to be published. */
  get depthFrames(): number {
    return this.frames;
  }

  /** Events waiting to be published. */
  get depthEvents(): number {
    return this.events;
  }

  /** Bytes waiting to be published. */
  get depthBytes(): number {
    return this.bytes;
  }

  get isEmpty(): boolean {
    return this.frames === 0;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async load(): Promise<void> {
    let segs = await listSegments(this.dir);
    const read = await readSaved(this.dir);
    const saved = consistentSaved(read, segs);
    if (read && !saved) {
      this.logger.error({ dir: this.dir, saved: read, segments: segs.map((x) => ({ gen: x.gen, size: x.size })) }, 'outbox: flushed.json names a position beyond the segments on disk (damaged); replaying every pending batch, deleting nothing');
    }
    if (saved) {
      for (const s of segs.filter((x) => x.gen < saved.segment)) await unlink(s.path);
      segs = segs.filter((x) => x.gen >= saved.segment);
    }
    if (segs.length === 0) {
      const gen = saved?.segment ?? 1;
      const path = join(this.dir, segmentName(gen));
      await (await open(path, 'w')).close();
      await fsyncDir(this.dir);
      segs = [{ gen, path, size: 0, skips: [] }];
    }
    // A segment the disk cannot read (EIO: a bad sector reads as an error, not as garbage) is set
    // aside whole, renamed `<segment>.unreadable`, kept for recovery by hand, logged and counted:
    // one unreadable sector made the outbox unopenable, so the agent exited at every start and
    // every other segment's batches stayed undelivered too (found in a review).
    const readable: Segment[] = [];
    const scans = new Map<Segment, SegmentScan>();
    for (const seg of segs) {
      const fh = await open(seg.path, 'r');
      try {
        scans.set(seg, await scanFile(fh, seg.size));
        readable.push(seg);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EIO') throw e;
        await fh.close().catch(() => undefined);
        await rename(seg.path, `${seg.path}.unreadable`);
        await fsyncDir(this.dir);
        this.stats.corruptRegions++;
        this.stats.corruptBytes += seg.size;
        this.logger.error({ segment: seg.path, bytes: seg.size, keptAs: `${seg.path}.unreadable` }, 'outbox: a segment cannot be read (EIO); set aside whole, its batches are NOT replayed (recover them by hand)');
        continue;
      } finally {
        await fh.close().catch(() => undefined);
      }
    }
    if (readable.length === 0) {
      const gen = segs.length > 0 ? segs[segs.length - 1]!.gen + 1 : (saved?.segment ?? 1);
      const path = join(this.dir, segmentName(gen));
      await (await open(path, 'w')).close();
      await fsyncDir(this.dir);
      readable.push({ gen, path, size: 0, skips: [] });
    }
    segs = readable;
    this.segments = segs;
    this.cursor = { idx: 0, offset: saved && segs[0]!.gen === saved.segment ? saved.offset : 0 };
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      const from = i === 0 ? this.cursor.offset : 0;
      const fh = await open(seg.path, 'r+');
      const scan: SegmentScan = scans.get(seg) ?? { frames: [], bad: [], validEnd: 0 };
      try {
        // A region that cannot be kept aside (a full disk) is not cut off: it stays in the segment
        // as a skipped region, and is tried again at the next start (it failed the open, and with
        // it the agent that could flush the backlog and free the disk; found in a review).
        let keptAll = true;
        for (const b of scan.bad) {
          try {
            await this.quarantine(fh, seg, b, b.end <= from);
          } catch (e) {
            keptAll = false;
            this.logger.error({ segment: seg.path, offset: b.pos, bytes: b.end - b.pos, err: e instanceof Error ? e.message : String(e) }, 'outbox: could not keep a damaged region aside; it stays in the segment, skipped');
          }
        }
        if (scan.bad.length > 0) await fsyncDir(this.dir); // the copies exist before anything is cut
        if (keptAll && scan.validEnd < seg.size) {
          // No valid frame after validEnd: cut the tail off (it is kept aside above)
          // so that appends continue right after the last valid frame.
          await fh.truncate(scan.validEnd);
          await fh.datasync();
          seg.size = scan.validEnd;
        }
      } finally {
        await fh.close();
      }
      seg.skips = scan.bad.filter((b) => b.end <= seg.size).map((b) => ({ pos: b.pos, end: b.end }));
      if (i === 0) {
        const boundary = scan.frames.find((f) => f.pos >= from)?.pos ?? scan.validEnd;
        if (boundary !== from) {
          // A saved offset at (or inside) a damaged region is expected: resume at the next valid frame.
          if (!scan.bad.some((b) => b.pos <= from && from < b.end)) {
            this.logger.warn({ segment: seg.path, saved: from, used: boundary }, 'outbox: flushed offset is not a frame boundary; resuming at the next frame');
          }
          this.cursor.offset = boundary;
        }
      }
      for (const f of scan.frames) {
        if (f.pos < this.cursor.offset && i === 0) continue;
        this.frames++;
        this.events += f.events;
        this.bytes += f.len;
      }
    }
    const active = this.segments[this.segments.length - 1]!;
    this.writer = await open(active.path, 'r+');
    this.lastSave = Date.now();
    if (this.frames > 0) this.logger.info({ dir: this.dir, batches: this.frames, events: this.events }, 'outbox: pending batches found; they will be flushed first');
  }

  /**
   * Keeps an unreadable region of a segment aside (`<segment>.torn-<offset>`
   * or `.corrupt-<offset>`), counts it and logs it. Its frames are never
   * replayed; the caller cuts a trailing region off the segment.
   */
  private async quarantine(fh: FileHandle, seg: Segment, b: BadRegion, flushed: boolean): Promise<void> {
    const bytes = b.end - b.pos;
    const keptAs = await keepAside(`${seg.path}.${b.kind}-${b.pos}`, await readExactly(fh, b.pos, bytes));
    const info = { segment: seg.path, offset: b.pos, bytes, why: b.why, resync: b.resync, keptAs, alreadyFlushed: flushed };
    if (b.kind === 'torn') {
      this.stats.tornTails++;
      this.stats.tornBytes += bytes;
      this.logger.warn(info, 'outbox: cut an incomplete last frame (torn append, never acknowledged) off a segment');
    } else {
      this.stats.corruptRegions++;
      this.stats.corruptBytes += bytes;
      const what = b.end < seg.size ? 'skipped it; the valid frames after it are kept' : 'cut it off (no valid frame follows)';
      // Wholly before the flushed offset: published before the damage, or skipped (and logged as an error) at an earlier start.
      if (flushed) this.logger.warn(info, `outbox: corrupt region before the flushed offset (published before it was damaged, or reported at an earlier start); ${what}`);
      else this.logger.error(info, `outbox: corrupt region (frames failing their checksum; acknowledged batches in it are lost); ${what}`);
    }
  }

  /** What was set aside as unreadable when this outbox was opened. */
  get quarantined(): Readonly<OutboxQuarantine> {
    return { ...this.stats };
  }

  /** Appends entries in order and fsyncs them; rejects with OutboxFullError past maxBytes. */
  append(entries: readonly OutboxEntry[]): Promise<void> {
    return this.serial(async () => {
      if (this.closed) throw new HwlError('UNAVAILABLE', 'outbox is closed');
      await this.assertHeld();
      if (entries.length === 0) return;
      const frames = entries.map(encodeFrame);
      const buf = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
      if (this.bytes + buf.length > this.maxBytes) {
        throw new OutboxFullError(`outbox ${this.dir} is full (${this.bytes} of ${this.maxBytes} bytes pending)`);
      }
      const active = this.segments[this.segments.length - 1]!;
      try {
        let written = 0;
        while (written < buf.length) {
          const { bytesWritten } = await this.writer.write(buf, written, buf.length - written, active.size + written);
          written += bytesWritten;
        }
        await this.writer.datasync();
      } catch (e) {
        // Leave no partial frame behind (it would be cut at the next start anyway).
        await this.writer.truncate(active.size).catch(() => undefined);
        throw new HwlError('UNAVAILABLE', `outbox ${this.dir}: write failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      active.size += buf.length;
      this.frames += entries.length;
      for (const e of entries) this.events += e.events;
      this.bytes += buf.length;
    });
  }

  private async reader(idx: number): Promise<FileHandle> {
    if (idx === this.segments.length - 1) return this.writer;
    const seg = this.segments[idx]!;
    let fh = this.readers.get(seg.gen);
    if (!fh) {
      fh = await open(seg.path, 'r');
      this.readers.set(seg.gen, fh);
    }
    return fh;
  }

  /** The oldest pending entry (the same one until `commit`), or undefined when empty. */
  peek(): Promise<OutboxEntry | undefined> {
    return this.serial(async () => {
      if (this.peeked) return this.peeked.entry;
      if (this.frames === 0) return undefined;
      for (;;) {
        while (this.cursor.idx < this.segments.length - 1 && this.cursor.offset >= this.segments[this.cursor.idx]!.size) {
          this.cursor = { idx: this.cursor.idx + 1, offset: 0 };
        }
        const skip = this.segments[this.cursor.idx]!.skips.find((k) => k.pos <= this.cursor.offset && this.cursor.offset < k.end);
        if (!skip) break;
        this.cursor.offset = skip.end; // a damaged region found at load: never replayed
      }
      const fh = await this.reader(this.cursor.idx);
      const h = readFrameHeader(await readExactly(fh, this.cursor.offset, FRAME_HEADER_BYTES));
      if (!h.ok) throw new HwlError('INTERNAL', `outbox ${this.dir}: unreadable frame at ${this.cursor.offset}: ${h.why}`);
      const d = decodeFramePayload(await readExactly(fh, this.cursor.offset + FRAME_HEADER_BYTES, h.payloadLen), h.crc);
      if (!d.ok) throw new HwlError('INTERNAL', `outbox ${this.dir}: unreadable frame at ${this.cursor.offset}: ${d.why}`);
      this.peeked = { entry: d.entry, len: FRAME_HEADER_BYTES + h.payloadLen };
      return d.entry;
    });
  }

  /**
   * Throws UNAVAILABLE when another process's LOCK replaced this one's (read
   * now, not at the next heartbeat): nothing more is written, moved or deleted
   * here. What this agent published meanwhile the new holder publishes again
   * with the same Nats-Msg-Id, which the ingest stream deduplicates.
   */
  private async assertHeld(): Promise<void> {
    const lost = await this.held?.confirm();
    if (lost !== undefined) throw new HwlError('UNAVAILABLE', `outbox ${this.dir} is no longer this agent's (${lost}): nothing more is written to it`);
  }

  /** Marks the peeked entry as published (PubAck received). */
  commit(): Promise<void> {
    return this.serial(async () => {
      const p = this.peeked;
      if (!p) throw new HwlError('INTERNAL', 'outbox commit without peek');
      await this.assertHeld();
      this.peeked = undefined;
      this.cursor.offset += p.len;
      this.frames--;
      this.events -= p.entry.events;
      this.bytes -= p.len;
      this.sinceSave++;
      if (this.frames === 0) await this.roll();
      else if (this.sinceSave >= this.saveEvery || Date.now() - this.lastSave >= this.saveEveryMs) await this.save();
    });
  }

  /** Drained: start a fresh segment so the flushed one can be deleted. */
  private async roll(): Promise<void> {
    const active = this.segments[this.segments.length - 1]!;
    if (active.size > 0) {
      const gen = active.gen + 1;
      const path = join(this.dir, segmentName(gen));
      const fh = await open(path, 'w+');
      await fsyncDir(this.dir);
      const old = this.writer;
      this.writer = fh;
      this.readers.set(active.gen, old);
      this.segments.push({ gen, path, size: 0, skips: [] });
      this.cursor = { idx: this.segments.length - 1, offset: 0 };
    }
    await this.save();
  }

  /** Persists the flushed position atomically, then deletes fully flushed segments. */
  private async save(): Promise<void> {
    while (this.cursor.idx < this.segments.length - 1 && this.cursor.offset >= this.segments[this.cursor.idx]!.size) {
      this.cursor = { idx: this.cursor.idx + 1, offset: 0 };
    }
    const seg = this.segments[this.cursor.idx]!;
    const tmp = join(this.dir, `${FLUSHED}.tmp`);
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify({ segment: seg.gen, offset: this.cursor.offset }) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, FLUSHED));
    await fsyncDir(this.dir);
    this.sinceSave = 0;
    this.lastSave = Date.now();
    while (this.cursor.idx > 0) {
      const gone = this.segments.shift()!;
      this.cursor.idx--;
      const fh2 = this.readers.get(gone.gen);
      this.readers.delete(gone.gen);
      await fh2?.close().catch(() => undefined);
      await unlink(gone.path).catch(() => undefined);
    }
  }

  /** Saves the flushed position, closes files and releases the lock. */
  close(): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      this.closed = true;
      // A lost LOCK: the flushed offset is the new holder's to write, not this process's.
      if (this.sinceSave > 0 && (await this.held?.confirm()) === undefined) {
        await this.save().catch((e: unknown) => this.logger.error({ err: e }, 'outbox: saving the flushed offset failed'));
      }
      for (const fh of this.readers.values()) await fh.close().catch(() => undefined);
      this.readers.clear();
      await this.writer.close().catch(() => undefined);
      await this.held?.release();
    });
  }
}

async function listSegments(dir: string): Promise<Segment[]> {
  const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw e;
  });
  const segs: Segment[] = [];
  for (const n of names) {
    const m = SEGMENT_RE.exec(n);
    if (!m) continue;
    const path = join(dir, n);
    const fh = await open(path, 'r');
    try {
      segs.push({ gen: Number(m[1]), path, size: (await fh.stat()).size, skips: [] });
    } finally {
      await fh.close();
    }
  }
  return segs.sort((a, b) => a.gen - b.gen);
}

/**
 * The saved flushed position, if it fits the segments on disk: a segment no
 * newer than the newest one, and an offset within its segment. A damaged
 * flushed.json that still parses (a changed digit) otherwise made load()
 * delete every segment, or skip every pending batch, as if published: batches
 * acknowledged and never sent, gone (found in a review). One that does not fit
 * is treated as unreadable: replay everything (the ingest stream deduplicates).
 */
function consistentSaved(saved: { segment: number; offset: number } | undefined, segs: readonly Segment[]): { segment: number; offset: number } | undefined {
  if (!saved || segs.length === 0) return saved;
  if (saved.segment > segs[segs.length - 1]!.gen) return undefined;
  const at = segs.find((x) => x.gen === saved.segment);
  if (at && saved.offset > at.size) return undefined;
  return saved;
}

async function readSaved(dir: string): Promise<{ segment: number; offset: number } | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, FLUSHED), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(text) as { segment?: unknown; offset?: unknown };
    if (Number.isSafeInteger(v.segment) && Number.isSafeInteger(v.offset) && (v.offset as number) >= 0) {
      return { segment: v.segment as number, offset: v.offset as number };
    }
  } catch {
    // fall through: an unreadable offset file means "replay everything" (dedup by Nats-Msg-Id)
  }
  return undefined;
}

