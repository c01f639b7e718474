// The bare relay of the seal benchmark: consume the ingest stream in order
// (same durable pull consumer settings as the sequencer), publish each body
// unchanged to a target stream with Nats-Expected-Last-Sequence (and a
// Nats-Msg-Id made of the ingest stream and sequence), ack the ingest message after the PubAck
// (cumulatively, AckPolicy.All, once per burst of PubAcks, as the sequencer).
// No decode, no validation, no hashing. Uses the sequencer's own pipelined
// publisher (AppendPipeline) and header encoder (RawHeaders) with the same
// window, so only the sealing work differs between the two.
//   node relay-worker.mjs <nats-url> <ingest-stream> <target-subject> <window>
import { connect } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { AppendPipeline, RawHeaders, SerialRunner, Slab } from '@hwledger/sequencer';

const [url, ingestStream, target, windowArg] = process.argv.slice(2);
const window = Number(windowArg ?? 256);
const nc = await connect({ servers: url, name: 'bench-relay' });
const jsm = await jetstreamManager(nc);
await jsm.consumers.add(ingestStream, {
  durable_name: 'bench-relay',
  ack_policy: AckPolicy.All,
  deliver_policy: DeliverPolicy.All,
  max_ack_pending: 8_192,
  ack_wait: 120_000_000_000,
  max_deliver: -1,
});
const consumer = await jetstream(nc).consumers.get(ingestStream, 'bench-relay');
let failed = false;
const pipeline = new AppendPipeline(nc, {
  window,
  timeoutMs: 10_000,
  onSettled: (m, o) => {
    if (!o.ok) {
      if (!failed) process.stderr.write(`relay: append failed: ${o.code} ${o.message}\n`);
      failed = true;
      return;
    }
    // Cumulative ack of the last stored message of the burst (as the sequencer does).
    if (ackNext === undefined) queueMicrotask(() => { const a = ackNext; ackNext = undefined; a?.ack(); });
    ackNext = m;
  },
});
let ackNext;
// Header bytes from a slab, as the sequencer's (no off-heap array per message).
const slab = new Slab();
let last = 0;
// Same delivery as the sequencer: callback consume feeding a SerialRunner, so
// a socket read of messages is relayed in one turn and leaves in one write.
let stopping = false;
const feeder = new SerialRunner(
  (m) => {
    if (stopping) return;
    if (!pipeline.hasCapacity()) return pipeline.waitForCapacity().then(() => relay(m));
    relay(m);
  },
  (e) => process.stderr.write(`relay: ${e}\n`),
);
function relay(m) {
  if (stopping) return;
  const pairs = [['Nats-Expected-Last-Sequence', String(last)]];
  // A message id per relayed message, as every chain record has one (the
  // server deduplicates both), derived from the ingest position like the
  // sequencer's watermark: m.seq, not a parse of the ingest headers.
  pairs.push(['Nats-Msg-Id', `${ingestStream}-${m.seq}`]);
  last++;
  pipeline.append(target, m.data, new RawHeaders(pairs, slab).asMsgHdrs(), m);
}
const messages = await consumer.consume({ max_messages: 1024, callback: (m) => feeder.push(m) });
await new Promise((resolve) => process.once('SIGTERM', resolve));
stopping = true;
await messages.close();
feeder.clear();
await pipeline.drained();
pipeline.close();
await nc.drain();
