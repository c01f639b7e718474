/**
 * The header block of one chain record (docs/sequencer.md, "What a consumer
 * can rely on"), written straight into bytes: every value is hex or decimal
 * we produce, so there is nothing to validate or escape, and building
 * strings per header cost more than sealing the record.
 *
 *   NATS/1.0
 *   Nats-Msg-Id: <16 bytes of the event key, 8 of current_hash>   (base64url: chain-msg-id.ts)
 *   Nats-Expected-Stream: HWL_CHAIN_<chain>
 *   Nats-Expected-Last-Sequence: <sequence - 1>
 *   Hwl-Prev-Hash: <64 hex>
 *   Hwl-Hash: <64 hex>
 *   Hwl-Ingest: <ingest seq>.<index>.<count>   (decimals: the watermark, watermark.ts)
 *   Nats-Expected-Last-Msg-Id: <previous record's Nats-Msg-Id>   (after a session's first append)
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import { HEADERS } from '@hwledger/core';
import type { Slab } from './slab.js';
import { putDecimal } from './put-decimal.js';
import { CHAIN_MSG_ID_LENGTH, EVENT_KEY_BYTES, MSG_ID_HASH_BYTES, MSG_ID_KEY_BYTES, eventKeyBytes, putBase64Url } from './chain-msg-id.js';

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const HEX = ascii('0123456789abcdef');

const P_MSG_ID = ascii(`NATS/1.0\r\n${HEADERS.msgId}: `);
const P_EXP_STREAM = ascii(`\r\nNats-Expected-Stream: `);
const P_EXP_SEQ = ascii(`\r\nNats-Expected-Last-Sequence: `);
const P_PREV = ascii(`\r\n${HEADERS.prevHash}: `);
const P_HASH = ascii(`\r\n${HEADERS.hash}: `);
const P_ISEQ = ascii(`\r\n${HEADERS.ingest}: `);
const P_IDX = ascii('.');
const P_CNT = ascii('.');
const P_EXP_ID = ascii(`\r\nNats-Expected-Last-Msg-Id: `);
const END = ascii('\r\n\r\n');

export interface RecordHeaderFields {
  /**
   * The chain stream's name (ASCII bytes), sent as Nats-Expected-Stream: a
   * stored record replayed into another stream is refused there. The threat:
   * any user allowed to create a consumer on a stream can make nats-server
   * deliver its stored messages, headers included, to a subject of its
   * choosing (a push consumer's deliver subject is not checked against the
   * creator's publish permissions: nats-io/nats-server#8274), and a stream
   * listening on that subject stores them. A replay into this same stream is
   * refused by Nats-Expected-Last-Sequence, into any other by this header.
   */
  stream: Uint8Array;
  /** recordMsgId(source, event_id): 48 hex digits, or its 24 bytes as a latin1 string (keyIsBinary). Written in base64url (chain-msg-id.ts). */
  key: string;
  keyIsBinary?: boolean;
  hash: Uint8Array;
  prevHash: Uint8Array;
  sequence: bigint;
  ingestSeq: number;
  index: number;
  count: number;
  /** The previous record's Nats-Msg-Id bytes, or undefined for a session's first append. */
  expectedLastMsgId: Uint8Array | undefined;
}

/** Pre-encoded headers for nats.js publish (it only calls encode()). */
export class EncodedHeaders {
  constructor(readonly bytes: Uint8Array) {}
  encode(): Uint8Array {
    return this.bytes;
  }
  asMsgHdrs(): MsgHdrs {
    return this as unknown as MsgHdrs;
  }
}

export interface EncodedRecordHeaders {
  headers: EncodedHeaders;
  /** This record's Nats-Msg-Id (a view into the header bytes). */
  msgId: Uint8Array;
}

/** Two lowercase hex digits of every byte value, as char codes (high << 8 | low). */
const HEX2 = new Uint16Array(256);
for (let v = 0; v < 256; v++) HEX2[v] = (HEX[v >> 4]! << 8) | HEX[v & 15]!;

function putBytes(out: Uint8Array, o: number, b: Uint8Array): number {
  out.set(b, o);
  return o + b.length;
}

function putHex(out: Uint8Array, o: number, b: Uint8Array, bytes: number): number {
  for (let i = 0; i < bytes; i++) {
    const h = HEX2[b[i]!]!;
    out[o++] = h >> 8;
    out[o++] = h & 0xff;
  }
  return o;
}

/** The binary key's bytes, for putBase64Url (one array, reused). */
const KEY_SCRATCH = new Uint8Array(EVENT_KEY_BYTES);
const ID_SCRATCH = new Uint8Array(MSG_ID_KEY_BYTES + MSG_ID_HASH_BYTES);

/** Digits of a decimal number (at most 20 for a u64). */
const DEC_MAX = 20;
const SAFE_SEQ = BigInt(Number.MAX_SAFE_INTEGER);

/** Writes the header block; into `slab` when given (see slab.ts), else into a new array. */
export function encodeRecordHeaders(f: RecordHeaderFields, slab?: Slab): EncodedRecordHeaders {
  const key = f.key;
  const expected = f.expectedLastMsgId;
  const size =
    P_MSG_ID.length + CHAIN_MSG_ID_LENGTH + P_EXP_STREAM.length + f.stream.length + P_EXP_SEQ.length + DEC_MAX + P_PREV.length + 64 + P_HASH.length + 64 +
    P_ISEQ.length + DEC_MAX + P_IDX.length + DEC_MAX + P_CNT.length + DEC_MAX + (expected ? P_EXP_ID.length + expected.length : 0) + END.length;
  let buf: Uint8Array;
  let o0 = 0;
  if (slab) {
    slab.room(size);
    buf = slab.buf;
    o0 = slab.at;
  } else buf = new Uint8Array(size);
  let o = putBytes(buf, o0, P_MSG_ID);
  const idStart = o;
  let keyBytes: Uint8Array;
  if (f.keyIsBinary) {
    if (key.length !== EVENT_KEY_BYTES) throw new RangeError(`a binary event key has ${EVENT_KEY_BYTES} bytes`);
    keyBytes = KEY_SCRATCH;
    for (let i = 0; i < EVENT_KEY_BYTES; i++) keyBytes[i] = key.charCodeAt(i) & 0xff;
  } else keyBytes = eventKeyBytes(key);
  const idSrc = ID_SCRATCH;
  idSrc.set(keyBytes.subarray(0, MSG_ID_KEY_BYTES));
  idSrc.set(f.hash.subarray(0, MSG_ID_HASH_BYTES), MSG_ID_KEY_BYTES);
  o = putBase64Url(buf, o, idSrc, MSG_ID_KEY_BYTES + MSG_ID_HASH_BYTES);
  const idEnd = o;
  o = putBytes(buf, o, P_EXP_STREAM);
  o = putBytes(buf, o, f.stream);
  o = putBytes(buf, o, P_EXP_SEQ);
  if (f.sequence <= SAFE_SEQ) o = putDecimal(buf, o, Number(f.sequence) - 1);
  else {
    const t = (f.sequence - 1n).toString();
    for (let i = 0; i < t.length; i++) buf[o++] = t.charCodeAt(i);
  }
  o = putBytes(buf, o, P_PREV);
  o = putHex(buf, o, f.prevHash, 32);
  o = putBytes(buf, o, P_HASH);
  o = putHex(buf, o, f.hash, 32);
  o = putBytes(buf, o, P_ISEQ);
  o = putDecimal(buf, o, f.ingestSeq);
  o = putBytes(buf, o, P_IDX);
  o = putDecimal(buf, o, f.index);
  o = putBytes(buf, o, P_CNT);
  o = putDecimal(buf, o, f.count);
  if (expected) {
    o = putBytes(buf, o, P_EXP_ID);
    o = putBytes(buf, o, expected);
  }
  o = putBytes(buf, o, END);
  const out = slab ? slab.take(o - o0) : buf.subarray(0, o);
  return { headers: new EncodedHeaders(out), msgId: new Uint8Array(out.buffer, out.byteOffset + (idStart - o0), idEnd - idStart) };
}

/**
 * Layout of the state the addon's sealLink (native-hash src/record-link.c)
 * reads and writes: the event key's 24 bytes (written by the caller), the
 * current_hash it computes, the previous record's Nats-Msg-Id (length byte,
 * then the bytes; it replaces it with the new record's), and from
 * LINK_TEMPLATE_AT the constant pieces of the header block above.
 */
export const LINK_KEY_AT = 0;
export const LINK_HASH_AT = 24;
export const LINK_LAST_ID_AT = 56;
export const LINK_LAST_ID_MAX = 120;
export const LINK_TEMPLATE_AT = 180;

/**
 * A fresh sealLink state for a chain stream: no previous record (a session's
 * first append has no Nats-Expected-Last-Msg-Id) and the header block's
 * pieces, the same bytes encodeRecordHeaders writes between its values.
 */
export function recordLinkState(stream: Uint8Array): Uint8Array {
  const pieces = [P_MSG_ID, Uint8Array.from([...P_EXP_STREAM, ...stream, ...P_EXP_SEQ]), P_PREV, P_HASH, P_ISEQ, P_IDX, P_CNT, P_EXP_ID, END];
  const size = LINK_TEMPLATE_AT + 1 + pieces.reduce((n, p) => n + 2 + p.length, 0);
  const st = new Uint8Array(new ArrayBuffer(size)); // a backing store of its own (see NativeHash in @hwledger/native-hash)
  let o = LINK_TEMPLATE_AT;
  st[o++] = pieces.length;
  for (const p of pieces) {
    if (p.length > 0xffff) throw new RangeError('header piece too long');
    st[o++] = p.length >> 8;
    st[o++] = p.length & 0xff;
    st.set(p, o);
    o += p.length;
  }
  return st;
}

/** The largest header block sealLink writes with this state (its room check). */
export function recordLinkMaxHeader(state: Uint8Array): number {
  let fixed = 0;
  let o = LINK_TEMPLATE_AT + 1;
  for (let i = 0; i < state[LINK_TEMPLATE_AT]!; i++) {
    const n = (state[o]! << 8) | state[o + 1]!;
    fixed += n;
    o += 2 + n;
  }
  return fixed + CHAIN_MSG_ID_LENGTH + 4 * DEC_MAX + 2 * 64 + LINK_LAST_ID_MAX;
}
