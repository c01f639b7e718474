// What the seal benchmark's relay and ceiling workers share, so that they
// consume, publish and ack exactly alike: the ingest consumer (the
// sequencer's settings, except max_ack_pending: a fixed 8,192 messages, more
// than the sequencer's ingest buffer holds, so a baseline is never short of
// input), the sequencer's AppendPipeline with a cumulative ack of the last
// stored ingest message of each burst (AckPolicy.All, as the sequencer), and
// callback delivery into a SerialRunner (a socket read of messages is handled
// in one turn and leaves in one write), until SIGTERM.
import { connect } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { AppendPipeline, SerialRunner } from '@hwledger/sequencer';

/**
 * Runs a bench worker: `handle(m, pipeline)` publishes what ingest message m
 * becomes, passing m as the token of its last append (undefined for the
 * others); m is acked once that append is stored.
 */
export async function runWorker({ url, ingestStream, name, window, handle }) {
  const nc = await connect({ servers: url, name: `bench-${name}` });
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(ingestStream, {
    durable_name: `bench-${name}`,
    ack_policy: AckPolicy.All,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: 8_192,
    ack_wait: 120_000_000_000,
    max_deliver: -1,
  });
  const consumer = await jetstream(nc).consumers.get(ingestStream, `bench-${name}`);
  let failed = false;
  let ackNext;
  const pipeline = new AppendPipeline(nc, {
    window,
    timeoutMs: 10_000,
    onSettled: (m, o) => {
      if (!o.ok) {
        if (!failed) process.stderr.write(`${name}: append failed: ${o.code} ${o.message}\n`);
        failed = true;
        return;
      }
      if (m === undefined) return;
      // Cumulative ack of the last stored message of the burst (as the sequencer does).
      if (ackNext === undefined) {
        queueMicrotask(() => {
          const a = ackNext;
          ackNext = undefined;
          a?.ack();
        });
      }
      ackNext = m;
    },
  });
  let stopping = false;
  const run = (m) => {
    if (!stopping) handle(m, pipeline);
  };
  const feeder = new SerialRunner(
    (m) => {
      if (stopping) return;
      if (!pipeline.hasCapacity()) return pipeline.waitForCapacity().then(() => run(m));
      run(m);
    },
    (e) => process.stderr.write(`${name}: ${e}\n`),
  );
  const messages = await consumer.consume({ max_messages: 1024, callback: (m) => feeder.push(m) });
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  stopping = true;
  await messages.close();
  feeder.clear();
  await pipeline.drained();
  pipeline.close();
  await nc.drain();
}
