/**
 * Scanning an outbox segment (frames of outbox-frame.ts) at load: which
 * frames are valid, and which byte ranges are not.
 *
 * A segment's bytes are treated as untrusted: they may have been torn by a
 * crash mid-append, or damaged later (bit rot, a bad sector, a stray write).
 * A frame is *valid* only when its length is plausible, it lies wholly inside
 * the segment, its payload's CRC-32 equals the stored one and the payload
 * decodes (version, msg-id length, event count). Nothing else is ever
 * replayed.
 *
 * When the frame at `pos` is not valid, the scan does not give up on the rest
 * of the segment (later frames were fsync'd and acknowledged):
 *
 * - it looks for the first position after `pos` where a valid frame starts
 *   (`next`). When the bad frame's length field is intact that is normally
 *   the end of the bad frame; when the length is damaged it is where the
 *   frames resume. The frame format has no magic marker, so the CRC-32 (plus
 *   the length bound, version byte and payload structure) is what makes a
 *   false resynchronisation practically impossible on damaged bytes: a random
 *   position passes with probability far below 2^-32.
 * - one exception: if the bad frame's own stored checksum matches its bytes
 *   up to some later point that is followed by a valid frame (or is the end
 *   of the segment), only its length field was damaged, and that point is its
 *   true end. Any "frame" found before it lies inside the bad frame's (intact)
 *   payload, i.e. inside event data, and is not taken for a frame.
 * - limit: event data is chosen by producers and may hold the bytes of a
 *   valid frame. When the payload of the frame that carries them is damaged,
 *   the checksum cannot tell where that frame ends, and the scan resumes at
 *   the embedded frame even if the length field still points past it. The
 *   length field is not preferred: when it is damaged too (a run of garbage
 *   over the header and the payload start) it can point at a later valid
 *   frame or at the end of the segment, and trusting it would drop intact,
 *   acknowledged frames; the two cases cannot be told apart.
 * - the bytes in between form a `corrupt` region: reported, kept for a human,
 *   never replayed.
 * - when no valid frame follows, everything from `pos` to the end is the
 *   region: a `torn` tail only when it looks like what a crash in the middle
 *   of an append leaves (fewer bytes than a frame header, a valid header
 *   whose frame runs past the end, or only zero bytes: a size extended
 *   before the data reached the disk); `corrupt` otherwise (a complete frame
 *   failing its checksum, or a damaged header, including a length field that
 *   grew past the end while the stored checksum still matches the bytes
 *   there: that frame may have been acknowledged).
 * - limit: after a power failure, a file system may persist the pages of one
 *   multi-frame append out of order (a hole, then later frames of the same
 *   unacknowledged write). The scan replays the later frames; their events
 *   were never acknowledged, so a caller that retries the missing ones sends
 *   them after these.
 */
import type { FileHandle } from 'node:fs/promises';
import { decodeFramePayload, FRAME_HEADER_BYTES, FRAME_VERSION, MAX_FRAME_PAYLOAD, readFrameHeader } from './outbox-frame.js';

/** A valid frame: offset, total length (header included) and event count. */
export interface ScannedFrame {
  pos: number;
  len: number;
  events: number;
}

/** How the scan found where the frames resume after a bad region. */
export type Resync =
  /** the bad frame's length field pointed at a valid frame: exactly one frame skipped */
  | 'length'
  /** the bad frame's stored checksum matched its bytes up to a valid frame: only its length was damaged */
  | 'checksum'
  /** scanned forward to the next position where a valid frame starts */
  | 'scan'
  /** no valid frame follows: the region runs to the end of the segment */
  | 'none';

export interface BadRegion {
  /** Offset of the first unreadable byte. */
  pos: number;
  /** Offset just past the region: a valid frame starts there, or the segment ends. */
  end: number;
  /** `torn`: an incomplete frame at the end (crash mid-append); `corrupt`: anything else. */
  kind: 'torn' | 'corrupt';
  /** Why the frame at `pos` is unreadable. */
  why: string;
  resync: Resync;
}

export interface SegmentScan {
  /** The valid frames, in order. */
  frames: ScannedFrame[];
  /** The unreadable regions, in order, disjoint from the frames. */
  bad: BadRegion[];
  /** End of the last valid frame (0 if none): the segment's size once a trailing bad region is cut off. */
  validEnd: number;
}

const MIN_PAYLOAD = 8;
/** Bytes a header-and-payload-start prefilter needs: header, version, msg-id length. */
const PREFIX_BYTES = FRAME_HEADER_BYTES + 3;
const WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * Reads a file through a window buffer, so that scanning byte by byte (when
 * resynchronising) costs no system call per position. Returned views stay
 * valid: a new window is a new buffer.
 */
export class SegmentReader {
  private buf: Uint8Array = new Uint8Array(0);
  private start = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  /** Up to `length` bytes at `pos` (fewer only at the end of the segment). */
  async bytes(pos: number, length: number): Promise<Uint8Array> {
    const want = Math.max(0, Math.min(length, this.size - pos));
    if (pos < this.start || pos + want > this.start + this.buf.length) await this.fill(pos, Math.max(want, WINDOW_BYTES));
    return this.buf.subarray(pos - this.start, pos - this.start + want);
  }

  /** The current window when it covers `pos` (and `minBytes` after it, or up to the end), else a fresh one starting at `pos`. */
  async window(pos: number, minBytes: number): Promise<{ buf: Uint8Array; start: number }> {
    const want = Math.max(0, Math.min(minBytes, this.size - pos));
    if (pos < this.start || pos + want > this.start + this.buf.length) await this.fill(pos, Math.max(want, WINDOW_BYTES));
    return { buf: this.buf, start: this.start };
  }

  private async fill(pos: number, length: number): Promise<void> {
    const n = Math.max(0, Math.min(length, this.size - pos));
    const buf = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await this.fh.read(buf, got, n - got, pos + got);
      if (bytesRead === 0) break; // the file shrank under us: the rest reads as absent
      got += bytesRead;
    }
    this.buf = got === n ? buf : buf.subarray(0, got);
    this.start = pos;
  }
}

const u32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;

/**
 * Cheap necessary conditions for a frame at `at` of `buf` (which must hold
 * PREFIX_BYTES there): plausible length that fits in the segment, version
 * byte, msg-id length that fits in the payload.
 */
function plausibleFrameStart(buf: Uint8Array, at: number, filePos: number, size: number): boolean {
  const payloadLen = u32(buf, at);
  if (payloadLen < MIN_PAYLOAD || payloadLen > MAX_FRAME_PAYLOAD || filePos + FRAME_HEADER_BYTES + payloadLen > size) return false;
  if (buf[at + FRAME_HEADER_BYTES] !== FRAME_VERSION) return false;
  const idLen = u16(buf, at + FRAME_HEADER_BYTES + 1);
  return idLen > 0 && 3 + idLen + 4 + 1 <= payloadLen;
}

type FrameAt = { ok: true; frame: ScannedFrame } | { ok: false; why: string; complete: boolean; end?: number };

/** A valid header whose frame runs past the end of the segment. */
const TRUNCATED = 'truncated frame';

/** True when every byte from `pos` to the end of the segment is zero. */
async function allZero(r: SegmentReader, pos: number): Promise<boolean> {
  for (let at = pos; at < r.size; ) {
    const b = await r.bytes(at, WINDOW_BYTES);
    if (b.length === 0) break;
    for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
    at += b.length;
  }
  return true;
}

/** Checks the frame at `pos` completely (length, bounds, checksum, payload structure). */
async function frameAt(r: SegmentReader, pos: number): Promise<FrameAt> {
  const h = readFrameHeader(await r.bytes(pos, FRAME_HEADER_BYTES));
  if (!h.ok) return { ok: false, why: h.why, complete: false };
  const end = pos + FRAME_HEADER_BYTES + h.payloadLen;
  if (end > r.size) return { ok: false, why: TRUNCATED, complete: false };
  const d = decodeFramePayload(await r.bytes(pos + FRAME_HEADER_BYTES, h.payloadLen), h.crc);
  if (!d.ok) return { ok: false, why: d.why, complete: true, end };
  return { ok: true, frame: { pos, len: end - pos, events: d.entry.events } };
}

/** The first position in [from, r.size) where a valid frame starts, or undefined. */
async function nextValidFrame(r: SegmentReader, from: number): Promise<number | undefined> {
  let q = from;
  while (q + FRAME_HEADER_BYTES + MIN_PAYLOAD <= r.size) {
    const w = await r.window(q, PREFIX_BYTES);
    // Positions whose prefix lies wholly inside this window; the rest come with the next one.
    const last = Math.min(w.start + w.buf.length - PREFIX_BYTES, r.size - FRAME_HEADER_BYTES - MIN_PAYLOAD);
    if (last < q) return undefined; // fewer than PREFIX_BYTES left: no frame fits
    let candidate: number | undefined;
    for (; q <= last; q++) {
      if (plausibleFrameStart(w.buf, q - w.start, q, r.size)) {
        candidate = q;
        break;
      }
    }
    if (candidate === undefined) continue; // q is now past this window
    if ((await frameAt(r, candidate)).ok) return candidate;
    q = candidate + 1;
  }
  return undefined;
}

const CRC_TABLE = ((): Int32Array => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/**
 * For a bad frame at `pos` whose length field may be damaged: the first end
 * `e` (beyond `after`) such that the stored checksum matches the bytes
 * pos+8..e, they decode as a payload and a valid frame starts at e or e is
 * the end of the segment (with `anyEnd`, whatever follows e).
 * Undefined when there is none (the checksum field or payload is damaged).
 */
async function endByStoredChecksum(r: SegmentReader, pos: number, after: number, anyEnd = false): Promise<number | undefined> {
  const header = await r.bytes(pos, FRAME_HEADER_BYTES);
  if (header.length < FRAME_HEADER_BYTES) return undefined;
  const stored = u32(header, 4);
  const from = pos + FRAME_HEADER_BYTES;
  const payload = await r.bytes(from, MAX_FRAME_PAYLOAD);
  let c = -1;
  for (let i = 0; i < payload.length; i++) {
    c = CRC_TABLE[(c ^ payload[i]!) & 0xff]! ^ (c >>> 8);
    const end = from + i + 1;
    if (i + 1 < MIN_PAYLOAD || end <= after || (c ^ -1) >>> 0 !== stored) continue;
    if (!decodeFramePayload(payload.subarray(0, i + 1), stored).ok) continue;
    if (anyEnd || end === r.size || (await frameAt(r, end)).ok) return end;
  }
  return undefined;
}

/** Scans a whole segment; see the module comment. Reads only. */
export async function scanSegment(r: SegmentReader): Promise<SegmentScan> {
  const frames: ScannedFrame[] = [];
  const bad: BadRegion[] = [];
  let validEnd = 0;
  let pos = 0;
  while (pos < r.size) {
    const f = await frameAt(r, pos);
    if (f.ok) {
      frames.push(f.frame);
      pos += f.frame.len;
      validEnd = pos;
      continue;
    }
    const next = await nextValidFrame(r, pos + 1);
    if (next === undefined) {
      let why = f.why;
      let torn = !f.complete && (r.size - pos < FRAME_HEADER_BYTES || f.why === TRUNCATED || (await allZero(r, pos)));
      if (torn && f.why === TRUNCATED) {
        // A torn append's bytes never match its stored checksum; a complete frame whose length field grew does.
        const end = await endByStoredChecksum(r, pos, pos, true);
        if (end !== undefined) {
          torn = false;
          why = `damaged length field (the stored checksum matches the ${end - pos - FRAME_HEADER_BYTES} payload bytes before offset ${end})`;
        }
      }
      bad.push({ pos, end: r.size, kind: torn ? 'torn' : 'corrupt', why, resync: 'none' });
      break;
    }
    if (next === f.end) {
      bad.push({ pos, end: next, kind: 'corrupt', why: f.why, resync: 'length' });
    } else {
      const byChecksum = await endByStoredChecksum(r, pos, next - 1);
      bad.push(byChecksum === undefined ? { pos, end: next, kind: 'corrupt', why: f.why, resync: 'scan' } : { pos, end: byChecksum, kind: 'corrupt', why: f.why, resync: 'checksum' });
    }
    pos = bad[bad.length - 1]!.end;
  }
  return { frames, bad, validEnd };
}
