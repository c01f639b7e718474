/**
 * Admission of ingest messages. Producers are untrusted (spec: "Ingest
 * envelope"; threat: a compromised or buggy agent trying to crash the
 * sequencer or smuggle a malformed record into the ledger). Everything here
 * turns bad input into a stable reject code, never into an exception that
 * could stop sealing:
 *
 *   whole message: OVERSIZED, MALFORMED_PROTOBUF, INVALID_UTF8 (a string field
 *                  is not UTF-8: strings decode eagerly, so the whole message
 *                  goes), UNSUPPORTED_ENVELOPE, EMPTY_BATCH
 *   one event:     MISSING_PAYLOAD, UNKNOWN_REASON (decode),
 *                  INVALID_FIELD, INVALID_UTF8, UNKNOWN_KIND (validateEvent),
 *                  FOREIGN_SOURCE (source-owner.ts: the event's source is not
 *                  the node whose subject carried it),
 *                  duplicate_event (sequencer, recent-id set)
 */
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { isChainError, validateEvent, type ChainEvent, type ValidationLimits, DEFAULT_LIMITS } from '@hwledger/chain';
import { decodeIngestBatch, IngestDecodeError, INGEST_ENVELOPE_VERSION, pb } from '@hwledger/proto';
import { foreignSourceReason, ownsSource, type SourceOwner } from './source-owner.js';

/** Every reject code (the metric hwl_events_rejected_total{code} starts each at 0, so an alert on the first one sees it). */
export const REJECT_CODES = [
  'OVERSIZED',
  'MALFORMED_PROTOBUF',
  'UNSUPPORTED_ENVELOPE',
  'EMPTY_BATCH',
  'MISSING_PAYLOAD',
  'UNKNOWN_REASON',
  'INVALID_FIELD',
  'INVALID_UTF8',
  'UNKNOWN_KIND',
  'UNSEALABLE',
  'TOO_MANY_EVENTS',
  'FOREIGN_SOURCE',
  'duplicate_event',
] as const;

export type RejectCode = (typeof REJECT_CODES)[number];

/**
 * Events one ingest message may carry. The agent sends at most 1,000 and
 * `hwledger emit` at most 10,000; a 1 MiB message of empty events would be
 * about 500,000, each a dead letter of its own (threat: one hostile message
 * fanning out into half a million publishes and log lines). A message over
 * the limit is one dead letter, TOO_MANY_EVENTS.
 */
export const MAX_EVENTS_PER_MESSAGE = 10_000;

export interface Rejection {
  code: RejectCode;
  reason: string;
}

export type AdmittedEvent = { ok: true; event: ChainEvent } | { ok: false; rejection: Rejection };

export type Admission = { ok: true; events: AdmittedEvent[] } | { ok: false; rejection: Rejection };

/** Largest ingest message accepted (the ingest stream's max_msg_size refuses larger ones first). */
export const DEFAULT_MAX_INGEST_BYTES = 1024 * 1024;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Maps an exception from validation or sealing to a stable code. */
export function rejectionOf(e: unknown): Rejection {
  if (isChainError(e)) {
    const code: RejectCode = e.code === 'INVALID_UTF8' || e.code === 'UNKNOWN_KIND' ? e.code : e.code === 'INVALID_FIELD' ? 'INVALID_FIELD' : 'UNSEALABLE';
    return { code, reason: e.message };
  }
  if (e instanceof IngestDecodeError) return { code: e.code, reason: e.message };
  return { code: 'UNSEALABLE', reason: message(e) };
}

/**
 * Decodes one ingest message and validates each event. Per-event problems are
 * reported per index so one bad event does not take its batch-mates down.
 * With `owner` (the node whose ingest subject carried the message), an event
 * whose source that node does not own is FOREIGN_SOURCE (source-owner.ts).
 */
export function admitIngestMessage(body: Uint8Array, opts: { maxBytes?: number; limits?: ValidationLimits; owner?: SourceOwner } = {}): Admission {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_INGEST_BYTES;
  if (body.length > maxBytes) {
    return { ok: false, rejection: { code: 'OVERSIZED', reason: `ingest message of ${body.length} bytes exceeds ${maxBytes}` } };
  }
  let decoded;
  try {
    // At most one event past the cap is decoded (TOO_MANY_EVENTS), whatever the message holds.
    decoded = decodeIngestBatch(body, { maxEvents: MAX_EVENTS_PER_MESSAGE });
  } catch (e) {
    if (e instanceof IngestDecodeError) {
      // The codec decodes strings strictly and reports bad UTF-8 as a malformed
      // message; give it its own code so operators can tell the two apart.
      const code: RejectCode = e.code === 'MALFORMED_PROTOBUF' && /UTF-8/.test(e.message) ? 'INVALID_UTF8' : e.code;
      return { ok: false, rejection: { code, reason: e.message } };
    }
    return { ok: false, rejection: { code: 'MALFORMED_PROTOBUF', reason: message(e) } };
  }
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const owner = opts.owner;
  const events: AdmittedEvent[] = decoded.events.map((d) => {
    if (!d.ok) return { ok: false, rejection: { code: d.code as RejectCode, reason: d.message } };
    try {
      validateEvent(d.event, limits);
    } catch (e) {
      return { ok: false, rejection: rejectionOf(e) };
    }
    if (owner !== undefined && !ownsSource(owner, d.event.source)) return { ok: false, rejection: { code: 'FOREIGN_SOURCE', reason: foreignSourceReason(owner, d.event.source) } };
    return { ok: true, event: d.event };
  });
  return { ok: true, events };
}

/**
 * The raw bytes of each event of an IngestBatch (field 2), in order, so a
 * rejected event can be dead-lettered as exactly what the producer sent
 * (re-wrapped as a one-event batch) instead of the whole message: a hostile
 * 1 MiB batch of 10,000 bad events must not become 10 GB of dead letters.
 *
 * Index-aligned with decodeIngestBatch's events: the walk is the generated
 * decoder's own (ingest.ts, IngestBatch.decode). That decoder stops at a zero
 * tag or an end-group tag and ignores whatever follows, and reads each event
 * with IngestEvent.decode, which may stop inside the event's bytes (the batch
 * then goes on from there); so does this walk. A walk that treated the rest
 * as fields threw ("illegal tag") on a message the decoder had accepted, and
 * the session ended at that message every time: a hostile node stopped the
 * chain (trailing-bytes.int.test.ts). Never throws: where the walk fails,
 * the list ends (the caller dead-letters the whole message for an event it
 * does not find).
 */
export function splitBatchEvents(body: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const r = new BinaryReader(body);
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag === 18) {
        const len = r.uint32();
        const start = r.pos;
        pb.IngestEvent.decode(r, len);
        out.push(body.subarray(start, start + len));
        continue;
      }
      if (tag === 8) {
        r.uint32();
        continue;
      }
      if ((tag & 7) === WireType.EndGroup || tag === 0) break;
      r.skip(tag & 7);
    }
  } catch {
    // Not a body decodeIngestBatch accepted (it is only called on those): what was found.
  }
  return out;
}

/** A one-event IngestBatch around raw event bytes (version 1, field 2). */
export function singleEventBatch(eventBytes: Uint8Array): Uint8Array {
  const len: number[] = [];
  let n = eventBytes.length;
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  const out = new Uint8Array(2 + 1 + len.length + eventBytes.length);
  out[0] = 0x08; // field 1 (version), varint
  out[1] = INGEST_ENVELOPE_VERSION;
  out[2] = 0x12; // field 2 (events), length-delimited
  out.set(len, 3);
  out.set(eventBytes, 3 + len.length);
  return out;
}
