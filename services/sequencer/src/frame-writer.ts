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
 * Chunks are never rewritten: a chunk handed to the connection may still be
 * queued in the socket, so a full chunk is replaced, not reset.
 */
import { ClosedConnectionError, DrainingConnectionError, type NatsConnection } from '@nats-io/transport-node';
import { putDecimal } from './put-decimal.js';

const CHUNK = 256 * 1024;
const HPUB = [0x48, 0x50, 0x55, 0x42, 0x20]; // "HPUB "

interface ProtocolQueue {
  sendCommand(cmd: Uint8Array): void;
  /** Set by drain(): publish() refuses from then on, and so does write(). */
  noMorePublishing?: boolean;
}

export class FrameWriter {
  private buf = new Uint8Array(CHUNK);
  private at = 0;
  /** Start of the bytes written since the last hand-over. */
  private start = 0;
  private scheduled = false;
  /** Subjects as bytes (a session publishes to a few dozen). */
  private readonly subjects = new Map<string, Uint8Array>();

  private constructor(
    private readonly queue: ProtocolQueue,
    private readonly nc: NatsConnection,
  ) {}

  /** A writer for `nc`, or undefined when its client has no protocol queue to write to. */
  static for(nc: NatsConnection): FrameWriter | undefined {
    const queue = (nc as unknown as { protocol?: Partial<ProtocolQueue> }).protocol;
    if (!queue || typeof queue.sendCommand !== 'function') return undefined;
    return new FrameWriter(queue as ProtocolQueue, nc);
  }

  /**
   * Queues one message; it leaves with the others of this turn (a
   * microtask hands them over). Throws, sending nothing, when the message
   * is larger than the server's max_payload (the server would close the
   * connection) or a subject is not printable ASCII, and, as publish()
   * does, when the connection is closed or draining (a frame queued then
   * would be dropped without a word).
   */
  write(subject: string, reply: string | undefined, headers: Uint8Array, body: Uint8Array): void {
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
      this.buf = new Uint8Array(Math.max(CHUNK, need));
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

