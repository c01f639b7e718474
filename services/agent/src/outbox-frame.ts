/**
 * Outbox record framing: `u32 length | u32 crc32 | payload`, big-endian,
 * payload = `u8 version(1) | u16 msg-id length | msg id | u32 event count |
 * IngestBatch body`. Length + checksum let a reader find a torn tail (the
 * agent crashed mid-write) or a corrupted frame instead of publishing garbage.
 */
import { crc32 } from 'node:zlib';

export const FRAME_HEADER_BYTES = 8;
export const FRAME_VERSION = 1;
/** Upper bound of a frame payload (an ingest body is < 1 MiB). */
export const MAX_FRAME_PAYLOAD = 2 * 1024 * 1024;

export interface OutboxEntry {
  /** Nats-Msg-Id the batch is published with (fixed for every retry). */
  msgId: string;
  /** The IngestBatch body. */
  body: Uint8Array;
  /** Events in the body. */
  events: number;
}

export function encodeFrame(e: OutboxEntry): Buffer {
  const id = Buffer.from(e.msgId, 'utf8');
  if (id.length === 0 || id.length > 0xffff) throw new RangeError('outbox msg id length out of range');
  const payloadLen = 1 + 2 + id.length + 4 + e.body.length;
  if (payloadLen > MAX_FRAME_PAYLOAD) throw new RangeError(`outbox frame of ${payloadLen} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadLen);
  let at = FRAME_HEADER_BYTES;
  buf.writeUInt8(FRAME_VERSION, at);
  at += 1;
  buf.writeUInt16BE(id.length, at);
  at += 2;
  id.copy(buf, at);
  at += id.length;
  buf.writeUInt32BE(e.events, at);
  at += 4;
  buf.set(e.body, at);
  buf.writeUInt32BE(payloadLen, 0);
  buf.writeUInt32BE(crc32(buf.subarray(FRAME_HEADER_BYTES)) >>> 0, 4);
  return buf;
}

export type FrameHeader = { ok: true; payloadLen: number; crc: number } | { ok: false; why: string };

export function readFrameHeader(h: Uint8Array): FrameHeader {
  if (h.length < FRAME_HEADER_BYTES) return { ok: false, why: 'truncated frame header' };
  const v = Buffer.from(h.buffer, h.byteOffset, FRAME_HEADER_BYTES);
  const payloadLen = v.readUInt32BE(0);
  if (payloadLen < 8 || payloadLen > MAX_FRAME_PAYLOAD) return { ok: false, why: `implausible frame length ${payloadLen}` };
  return { ok: true, payloadLen, crc: v.readUInt32BE(4) };
}

/** Checks and decodes a payload; returns why it is unusable instead of throwing. */
export function decodeFramePayload(payload: Uint8Array, crc: number): { ok: true; entry: OutboxEntry } | { ok: false; why: string } {
  if ((crc32(payload) >>> 0) !== crc) return { ok: false, why: 'checksum mismatch' };
  const b = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  if (b.readUInt8(0) !== FRAME_VERSION) return { ok: false, why: `unknown frame version ${b.readUInt8(0)}` };
  const idLen = b.readUInt16BE(1);
  if (3 + idLen + 4 + 1 > b.length || idLen === 0) return { ok: false, why: 'bad msg id length' };
  const msgId = b.toString('utf8', 3, 3 + idLen);
  const events = b.readUInt32BE(3 + idLen);
  if (events === 0) return { ok: false, why: 'frame with no events' };
  const body = new Uint8Array(b.subarray(3 + idLen + 4));
  return { ok: true, entry: { msgId, body, events } };
}
