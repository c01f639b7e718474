/**
 * The header block of one chain record (docs/sequencer.md, "What a consumer
 * can rely on"), written straight into bytes: every value is hex or decimal
 * we produce, so there is nothing to validate or escape, and building
 * strings per header cost more than sealing the record.
 *
 *   NATS/1.0
 *   Nats-Msg-Id: <event key>.<32 hex of current_hash>
 *   Nats-Expected-Last-Sequence: <sequence - 1>
 *   Hwl-Prev-Hash: <64 hex>
 *   Hwl-Hash: <64 hex>
 *   Hwl-Ingest-Seq / Hwl-Ingest-Index / Hwl-Ingest-Count: <decimal>
 *   Nats-Expected-Last-Msg-Id: <previous record's Nats-Msg-Id>   (after a session's first append)
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import { HEADERS } from '@hwledger/core';

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const HEX = ascii('0123456789abcdef');

const P_MSG_ID = ascii(`NATS/1.0\r\n${HEADERS.msgId}: `);
const P_EXP_SEQ = ascii(`\r\nNats-Expected-Last-Sequence: `);
const P_PREV = ascii(`\r\n${HEADERS.prevHash}: `);
const P_HASH = ascii(`\r\n${HEADERS.hash}: `);
const P_ISEQ = ascii(`\r\n${HEADERS.ingestSeq}: `);
const P_IDX = ascii(`\r\n${HEADERS.ingestIndex}: `);
const P_CNT = ascii(`\r\n${HEADERS.ingestCount}: `);
const P_EXP_ID = ascii(`\r\nNats-Expected-Last-Msg-Id: `);
const END = ascii('\r\n\r\n');

/** Hex digits of current_hash in the Nats-Msg-Id (128 bits). */
export const MSG_ID_HASH_HEX = 32;

export interface RecordHeaderFields {
  /** recordMsgId(source, event_id): 48 hex digits. */
  key: string;
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

export function encodeRecordHeaders(f: RecordHeaderFields): EncodedRecordHeaders {
  const expSeq = (f.sequence - 1n).toString();
  const iseq = String(f.ingestSeq);
  const idx = String(f.index);
  const cnt = String(f.count);
  const size =
    P_MSG_ID.length + f.key.length + 1 + MSG_ID_HASH_HEX + P_EXP_SEQ.length + expSeq.length + P_PREV.length + 64 + P_HASH.length + 64 +
    P_ISEQ.length + iseq.length + P_IDX.length + idx.length + P_CNT.length + cnt.length +
    (f.expectedLastMsgId ? P_EXP_ID.length + f.expectedLastMsgId.length : 0) + END.length;
  const out = new Uint8Array(size);
  let o = 0;
  const bytes = (b: Uint8Array): void => {
    out.set(b, o);
    o += b.length;
  };
  const text = (s: string): void => {
    for (let i = 0; i < s.length; i++) out[o++] = s.charCodeAt(i);
  };
  const hex = (b: Uint8Array, digits: number): void => {
    for (let i = 0; i < digits / 2; i++) {
      const v = b[i]!;
      out[o++] = HEX[v >> 4]!;
      out[o++] = HEX[v & 15]!;
    }
  };
  bytes(P_MSG_ID);
  const idStart = o;
  text(f.key);
  out[o++] = 0x2e; // '.'
  hex(f.hash, MSG_ID_HASH_HEX);
  const msgId = out.subarray(idStart, o);
  bytes(P_EXP_SEQ);
  text(expSeq);
  bytes(P_PREV);
  hex(f.prevHash, 64);
  bytes(P_HASH);
  hex(f.hash, 64);
  bytes(P_ISEQ);
  text(iseq);
  bytes(P_IDX);
  text(idx);
  bytes(P_CNT);
  text(cnt);
  if (f.expectedLastMsgId) {
    bytes(P_EXP_ID);
    bytes(f.expectedLastMsgId);
  }
  bytes(END);
  return { headers: new EncodedHeaders(out), msgId };
}
