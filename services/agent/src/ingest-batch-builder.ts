/**
 * Builds one IngestBatch message body incrementally. Each event is encoded
 * once (as a protobuf IngestEvent) and appended as field 2 of the batch, so
 * the size bound is checked exactly as the bytes grow; the result is byte for
 * byte what `encodeIngestBatch` produces (version field first, then events).
 */
import type { ChainEvent } from '@hwledger/chain';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { eventToProto, INGEST_ENVELOPE_VERSION, pb } from '@hwledger/proto';
import { ingestMsgId } from './ingest-msg-id.js';

/** Ingest messages stay below the ingest stream's 1 MiB max_msg_size with room for headers. */
export const MAX_INGEST_BODY_BYTES = 1024 * 1024 - 8 * 1024;

export interface SealedBatch {
  /** The IngestBatch body. */
  body: Uint8Array;
  /** Nats-Msg-Id, derived from the events' (source, event_id). */
  msgId: string;
  /** Number of events in the body. */
  events: number;
  /** (source, event_id) of each event, in order. */
  ids: { source: string; eventId: string }[];
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

/** The envelope's `version` field (field 1, varint). */
const HEADER = Uint8Array.of(0x08, INGEST_ENVELOPE_VERSION);
/** Tag of field 2 (events), length-delimited. */
const EVENTS_TAG = 0x12;

/** One reusable writer: finish() copies the bytes out and resets it (no allocation per event). */
const writer = new BinaryWriter();

export class IngestBatchBuilder {
  private parts: Uint8Array[] = [];
  private ids: { source: string; eventId: string }[] = [];
  private bytes = HEADER.length;

  /** `msgIdKey`: the agent's secret for unguessable message ids (msg-id-key.ts); without it, ids any node can compute. */
  constructor(
    readonly maxBytes = MAX_INGEST_BODY_BYTES,
    private readonly msgIdKey?: Uint8Array,
  ) {
    if (maxBytes < 64 || maxBytes > MAX_INGEST_BODY_BYTES) throw new RangeError(`batch max bytes must be between 64 and ${MAX_INGEST_BODY_BYTES}`);
  }

  get count(): number {
    return this.ids.length;
  }

  get size(): number {
    return this.bytes;
  }

  /** Encoded size of one event inside a batch (tag, length, bytes). */
  static encode(e: ChainEvent): Uint8Array {
    return pb.IngestEvent.encode(eventToProto(e), writer).finish();
  }

  /** Bytes an already-encoded event adds to the body. */
  static framedSize(encoded: Uint8Array): number {
    return 1 + varintLength(encoded.length) + encoded.length;
  }

  /** True when `encoded` fits in this batch. */
  fits(encoded: Uint8Array): boolean {
    return this.bytes + IngestBatchBuilder.framedSize(encoded) <= this.maxBytes;
  }

  /** Appends an encoded event; the caller checks `fits` first (an empty batch takes any event up to the bound). */
  add(e: { source: string; eventId: string }, encoded: Uint8Array): void {
    const add = IngestBatchBuilder.framedSize(encoded);
    if (this.bytes + add > this.maxBytes) throw new RangeError(`event ${e.eventId} (${encoded.length} bytes) does not fit in the batch`);
    this.parts.push(encoded);
    this.ids.push({ source: e.source, eventId: e.eventId });
    this.bytes += add;
  }

  /** The body and message id of the batch; resets the builder. */
  seal(): SealedBatch {
    if (this.ids.length === 0) throw new RangeError('cannot seal an empty batch');
    const body = new Uint8Array(this.bytes);
    body.set(HEADER, 0);
    let at = HEADER.length;
    for (const p of this.parts) {
      body[at++] = EVENTS_TAG;
      at = writeVarint(body, at, p.length);
      body.set(p, at);
      at += p.length;
    }
    const sealed: SealedBatch = { body, msgId: ingestMsgId(this.ids, this.msgIdKey), events: this.ids.length, ids: this.ids };
    this.parts = [];
    this.ids = [];
    this.bytes = HEADER.length;
    return sealed;
  }
}
