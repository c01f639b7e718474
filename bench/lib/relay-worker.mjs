// The bare relay of the seal benchmark: consume the ingest stream in order
// (worker-kit.mjs: the sequencer's consumer settings, delivery and
// cumulative ack after the PubAck), publish each body unchanged to a target
// stream with Nats-Expected-Last-Sequence (and a Nats-Msg-Id made of the
// ingest stream and sequence). No decode, no validation, no hashing. Uses the
// sequencer's own pipelined publisher (AppendPipeline) and header encoder
// (RawHeaders) with the same window, so only the sealing work differs.
//   node relay-worker.mjs <nats-url> <ingest-stream> <target-subject> <window>
import { DEFAULT_WINDOW, RawHeaders, Slab } from '@hwledger/sequencer';
import { runWorker } from './worker-kit.mjs';

const [url, ingestStream, target, windowArg] = process.argv.slice(2);
// Header bytes from a slab, as the sequencer's (no off-heap array per message).
const slab = new Slab();
let last = 0;
await runWorker({
  url,
  ingestStream,
  name: 'relay',
  window: Number(windowArg ?? DEFAULT_WINDOW),
  handle(m, pipeline) {
    const pairs = [['Nats-Expected-Last-Sequence', String(last)]];
    // A message id per relayed message, as every chain record has one (the
    // server deduplicates both), derived from the ingest position like the
    // sequencer's watermark: m.seq, not a parse of the ingest headers.
    pairs.push(['Nats-Msg-Id', `${ingestStream}-${m.seq}`]);
    last++;
    pipeline.append(target, m.data, new RawHeaders(pairs, slab).asMsgHdrs(), m);
  },
});
