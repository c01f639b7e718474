/**
 * Raw NATS `HPUB` frames for the append hot path (NATS client protocol:
 * `HPUB <subject> [reply-to] <#header bytes> <#total bytes>\r\n<headers><payload>\r\n`).
 *
 * nats.js's `publish()` builds a protocol line string, encodes it with a
 * TextEncoder, and queues four arrays per message (line, headers, payload,
 * CRLF) that its flush then concatenates into one: measured at about 2.7 µs
 * of client CPU per record-sized message, against about 1.1-1.4 µs for
 * frames written here, back to back, into one chunk that goes to the
 * connection as a single array per turn (the connection's own flush then has
 * nothing to concatenate). A record's append is one of these frames.
 *
 * What this relies on: the connection's protocol handler `sendCommand(bytes)`
 * (nats.js v3's internal queue of outgoing bytes, the one `publish()` itself
 * feeds). It is not public API, so `FrameWriter.for()` returns undefined when
 * it is missing and the caller publishes the public way; the frames are the
 * same bytes `publish()` would send (frame-writer.int.test.ts compares them
 * on the wire).
 *
 * Chunks are recycled, never rewritten early. A chunk handed to the
 * connection may still be queued in the client or the socket, so a full
 * chunk is retired, not reset, and it is written again only after the
 * caller has reported (delivered()) that the server received its last
 * frame: the server's answer to a frame (a PubAck) proves that every byte
 * before it on the connection reached it, so nothing can still read the
 * chunk.
 * Until then a fresh chunk is allocated. This rests on the client sending
 * its queue in order: nats.js v3 keeps outgoing bytes in one first-in,
 * first-out queue and Node's socket writes in order; on a reconnect nats.js
 * drops what it had queued for the old socket, and a reply on the new one
 * still comes after every byte before it. A chunk freed too early is caught
 * by the capturing-queue tests in frame-writer.int.test.ts (every cut
 * point); on a real connection the kernel's socket buffers usually hide it.
 *
 * Why recycle at all: every fresh chunk is an ArrayBuffer whose memory V8
 * counts as external, and every 64 MiB of external allocations starts a
 * full (mark-compact) collection.
 * At about 800 bytes of frame per record that was a full collection every
 * 80,000 records from the frames alone, together with the slab's
 * allocations about one every 100 ms at full speed; recycled chunks took
 * the sequencer's worker CPU per batched record from about 5 µs to 3.7 µs
 * in the seal benchmark (docs/bench-seal.md).
 */
import { ClosedConnectionError, DrainingConnectionError, type NatsConnection } from '@nats-io/transport-node';
import { putDecimal } from './put-decimal.js';

const CHUNK = 256 * 1024;
/**
 * Bytes of retired chunks kept waiting for delivered(); older ones are left
 * to the garbage collector. More than a window's frames ever hold (1,024
 * appends of a few KiB at most), so every chunk of a normal run comes back.
 */
const MAX_RETIRED_BYTES = 64 * 1024 * 1024;
/** Bytes of free chunks kept for reuse (more than a default window's frames: 1,024 appends of about 800 bytes). */
const MAX_FREE_BYTES = 4 * 1024 * 1024;
const HPUB = [0x48, 0x50, 0x55, 0x42, 0x20]; // "HPUB "

interface ProtocolQueue {
  sendCommand(cmd: Uint8Array): void;
  /** Set by drain(): publish() refuses from then on, and so does write(). */
  noMorePublishing?: boolean;
}

export class FrameWriter {
  private buf: Uint8Array<ArrayBuffer>;
  private at = 0;
  /** Frames written so far; write() returns the new count, the frame's number. */
  private frames = 0;
  /** Full chunks handed over, oldest first, each with the number of the last frame written into it. */
  private retired: { chunk: Uint8Array<ArrayBuffer>; last: number }[] = [];
  /** Chunks whose every frame the server has received (delivered()): reused before allocating. */
  private readonly free: Uint8Array<ArrayBuffer>[] = [];
  /** Chunks allocated so far (diagnostics and tests). */
  allocated = 1;
  private readonly maxRetired: number;
  private readonly maxFree: number;
  /** Start of the bytes written since the last hand-over. */
  private start = 0;
  private scheduled = false;
  /** Subjects as bytes (a session publishes to a few dozen). */
  private readonly subjects = new Map<string, Uint8Array>();

  private constructor(
    private readonly queue: ProtocolQueue,
    private readonly nc: NatsConnection,
    private readonly chunkBytes: number,
  ) {
    this.buf = new Uint8Array(chunkBytes);
    this.maxRetired = Math.max(4, Math.floor(MAX_RETIRED_BYTES / chunkBytes));
    this.maxFree = Math.max(4, Math.floor(MAX_FREE_BYTES / chunkBytes));
  }

  /**
   * A writer for `nc`, or undefined when its client has no protocol queue to
   * write to. `chunkBytes` (default 256 KiB) is for tests that want many
   * chunks from few frames.
   */
  static for(nc: NatsConnection, chunkBytes = CHUNK): FrameWriter | undefined {
    const queue = (nc as unknown as { protocol?: Partial<ProtocolQueue> }).protocol;
    if (!queue || typeof queue.sendCommand !== 'function') return undefined;
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 64) throw new RangeError(`chunkBytes must be an integer of at least 64, got ${chunkBytes}`);
    return new FrameWriter(queue as ProtocolQueue, nc, chunkBytes);
  }

  /**
   * The server has received every frame up to number `frame` (the caller
   * got a reply to it, or to a later one, on this connection): chunks whose
   * frames all lie at or before it may be written again. Never call it on a
   * timeout or on a guess: a chunk reused while the socket still holds it
   * would send other bytes than were written.
   */
  delivered(frame: number): void {
    const r = this.retired;
    let i = 0;
    while (i < r.length && r[i]!.last <= frame) {
      if (this.free.length < this.maxFree) this.free.push(r[i]!.chunk);
      i++;
    }
    if (i > 0) r.splice(0, i);
  }

  /**
   * Queues one message; it leaves with the others of this turn (a
   * microtask hands them over). Throws, sending nothing, when the message
   * is larger than the server's max_payload (the server would close the
   * connection) or a subject is not printable ASCII, and, as publish()
   * does, when the connection is closed or draining (a frame queued then
   * would be dropped without a word).
   */
  write(subject: string, reply: string | undefined, headers: Uint8Array, body: Uint8Array): number {
    if (this.nc.isClosed()) throw new ClosedConnectionError();
    if (this.queue.noMorePublishing === true) throw new DrainingConnectionError();
    const total = headers.length + body.length;
    const max = this.nc.info?.max_payload;
    if (max !== undefined && total > max) throw new RangeError(`message of ${total} bytes exceeds the server's max_payload (${max})`);
    const subj = this.subjectBytes(subject);
    const rep = reply === undefined || reply === '' ? undefined : this.ascii(reply);
    const need = 5 + subj.length + 1 + (rep ? rep.length + 1 : 0) + 11 + 11 + 2 + total + 2;
    if (this.at + need > this.buf.length) {
      this.handOver();
      this.retire();
      this.buf = need <= this.chunkBytes ? (this.free.pop() ?? this.fresh(this.chunkBytes)) : this.fresh(need);
      this.at = this.start = 0;
    }
    const b = this.buf;
    let o = this.at;
    for (let i = 0; i < 5; i++) b[o++] = HPUB[i]!;
    b.set(subj, o);
    o += subj.length;
    b[o++] = 0x20;
    if (rep) {
      b.set(rep, o);
      o += rep.length;
      b[o++] = 0x20;
    }
    o = putDecimal(b, o, headers.length);
    b[o++] = 0x20;
    o = putDecimal(b, o, total);
    b[o++] = 0x0d;
    b[o++] = 0x0a;
    b.set(headers, o);
    o += headers.length;
    b.set(body, o);
    o += body.length;
    b[o++] = 0x0d;
    b[o++] = 0x0a;
    this.at = o;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.endOfTurn);
    }
    return ++this.frames;
  }

  /** Retires the current chunk (it holds frames up to this.frames) if it holds any; only chunks of the regular size come back. */
  private retire(): void {
    if (this.buf.length !== this.chunkBytes) return;
    if (this.at === 0) {
      // Nothing written into it (a frame larger than a chunk comes next): free as it is.
      if (this.free.length < this.maxFree) this.free.push(this.buf);
      return;
    }
    this.retired.push({ chunk: this.buf, last: this.frames });
    if (this.retired.length > this.maxRetired) this.retired.shift();
  }

  private fresh(n: number): Uint8Array<ArrayBuffer> {
    this.allocated++;
    return new Uint8Array(n);
  }

  /** Hands what was written to the connection now (it flushes it to the socket in its own microtask). */
  handOver(): void {
    if (this.at > this.start) {
      this.queue.sendCommand(this.buf.subarray(this.start, this.at));
      this.start = this.at;
    }
  }

  private readonly endOfTurn = (): void => {
    this.scheduled = false;
    this.handOver();
  };

  private subjectBytes(subject: string): Uint8Array {
    let s = this.subjects.get(subject);
    if (s === undefined) {
      s = this.ascii(subject);
      if (this.subjects.size < 10_000) this.subjects.set(subject, s);
    }
    return s;
  }

  private ascii(s: string): Uint8Array {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      // Subjects and inboxes are printable ASCII without spaces (subject tokens, core's subjects.ts).
      if (c <= 0x20 || c > 0x7e) throw new RangeError(`subject ${JSON.stringify(s)} is not printable ASCII`);
      out[i] = c;
    }
    return out;
  }
}

