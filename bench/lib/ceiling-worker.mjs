// The ceiling of the seal benchmark: everything the sequencer sends, none of
// the sealing work. It consumes batched ingest messages exactly as the relay
// does (worker-kit.mjs: consumer settings, delivery, cumulative ack after the
// PubAck), splits each message into its events, and publishes
// every event as one record-sized message to the chain's spec subjects
// (hwl.chain.<chain>.<kind>.<tenant>, cycling through the bench's kinds and
// tenants: it does not decode an event to pick its own) with a header block of the sequencer's
// shape and size (encodeRecordHeaders: Nats-Msg-Id, fences, hashes,
// watermark), through the same AppendPipeline. What it does not do: decode, validate or transcode the event,
// compute the event key or the chain link, check duplicates, keep metrics.
// The hashes in its headers are counters and the body is the raw event
// padded to the size of its canonical bytes (about 60 bytes more), so no
// sealer that writes the spec's messages can be faster than this on the same
// server: the target row compares the sequencer with it.
//   node ceiling-worker.mjs <nats-url> <ingest-stream> <chain> <window>
import { streams } from '@hwledger/core';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { DEFAULT_WINDOW, Slab, encodeRecordHeaders } from '@hwledger/sequencer';
import { runWorker } from './worker-kit.mjs';

const [url, ingestStream, chain, windowArg] = process.argv.slice(2);

/**
 * The events of a batch as byte views, by the cheapest walk: the bench's own
 * messages are well formed. (The sequencer's splitBatchEvents, used only for
 * dead letters, decodes every event to stay aligned with the decoder on
 * hostile input; the ceiling must not pay for that.)
 */
function splitEvents(body) {
  const out = [];
  const r = new BinaryReader(body);
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 2 && wt === WireType.LengthDelimited) out.push(r.bytes());
    else r.skip(wt, field);
  }
  return out;
}
/** Bytes a canonical record has on top of its protobuf event (prefix, sequence, sealed_at, fixed-width fields). */
const PAD = 60;
const slab = new Slab();
const KINDS = ['inference_request_completed', 'job_completed', 'metrics_collected'];
const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', '_'];
const SUBJECTS = KINDS.flatMap((k) => TENANTS.map((t) => `hwl.chain.${chain}.${k}.${t}`));
const STREAM = new TextEncoder().encode(streams.chain(chain));
const KEY = 'k'.repeat(24); // a binary event key (24 latin1 chars), written as 48 hex digits
let seq = 0;
let prevHash = new Uint8Array(32);
let lastMsgId;
await runWorker({
  url,
  ingestStream,
  name: 'ceiling',
  window: Number(windowArg ?? DEFAULT_WINDOW),
  handle(m, pipeline) {
    const events = splitEvents(m.data);
    const count = events.length;
    for (let i = 0; i < count; i++) {
      seq++;
      // A distinct "hash" per record (the Nats-Msg-Id includes it, and the server deduplicates on it).
      const hash = new Uint8Array(32);
      new DataView(hash.buffer).setUint32(0, seq);
      const ev = events[i];
      slab.room(ev.length + PAD);
      const body = slab.take(ev.length + PAD);
      body.set(ev, PAD);
      const { headers, msgId } = encodeRecordHeaders({ stream: STREAM, key: KEY, keyIsBinary: true, hash, prevHash, sequence: BigInt(seq), ingestSeq: m.seq, index: i, count, expectedLastMsgId: lastMsgId }, slab);
      lastMsgId = msgId;
      prevHash = hash;
      pipeline.append(SUBJECTS[seq % SUBJECTS.length], body, headers.asMsgHdrs(), i === count - 1 ? m : undefined);
    }
  },
});
