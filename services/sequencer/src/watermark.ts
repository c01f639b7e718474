/**
 * The ingest watermark: the position, in ingest order, of the event sealed
 * last. Every chain record carries it (header Hwl-Ingest:
 * `<ingest seq>.<index>.<count>`; records sealed by earlier versions have
 * Hwl-Ingest-Seq, Hwl-Ingest-Index and Hwl-Ingest-Count instead), so the
 * chain itself says how far the ingest stream has
 * been consumed. A sequencer resumes strictly after the watermark of the
 * chain's last record: an event at or before it was sealed or dead-lettered
 * already, whatever JetStream redelivers and however old the redelivery is
 * (this is what makes sealing exactly once beyond any duplicate window).
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import { HEADERS } from '@hwledger/core';

export interface Watermark {
  /** Stream sequence of the ingest message (1, 2, …; 0 = before the first). */
  ingestSeq: number;
  /** Index of the event inside that message (-1 = before its first event). */
  index: number;
}

/** Before every ingest message: where an empty chain starts. */
export const WATERMARK_ORIGIN: Readonly<Watermark> = Object.freeze({ ingestSeq: 0, index: -1 });

/** True when the event at (ingestSeq, index) is at or before the watermark (already handled). */
export function isCovered(ingestSeq: number, index: number, w: Watermark): boolean {
  return ingestSeq < w.ingestSeq || (ingestSeq === w.ingestSeq && index <= w.index);
}

const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;
const D = '(0|[1-9][0-9]{0,15})';
/** Hwl-Ingest: `<ingest seq>.<index>.<count>` (record-headers.ts). */
const INGEST = new RegExp(`^${D}\\.${D}\\.${D}$`);

/**
 * Reads the watermark of a chain message: Hwl-Ingest, or on a record sealed
 * by earlier versions Hwl-Ingest-Seq and Hwl-Ingest-Index; undefined when
 * absent or malformed (a record with a malformed Hwl-Ingest is not read
 * through the older headers: one record, one claim).
 */
export function watermarkFromHeaders(h: MsgHdrs | undefined): Watermark | undefined {
  if (!h) return undefined;
  let seq: string;
  let idx: string;
  if (h.has(HEADERS.ingest)) {
    const m = INGEST.exec(h.get(HEADERS.ingest));
    if (!m) return undefined;
    seq = m[1]!;
    idx = m[2]!;
  } else {
    seq = h.get(HEADERS.ingestSeq);
    idx = h.get(HEADERS.ingestIndex);
  }
  if (!DECIMAL.test(seq) || !DECIMAL.test(idx)) return undefined;
  const ingestSeq = Number(seq);
  const index = Number(idx);
  if (!Number.isSafeInteger(ingestSeq) || !Number.isSafeInteger(index) || ingestSeq < 1) return undefined;
  return { ingestSeq, index };
}
