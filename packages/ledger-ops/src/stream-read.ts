/** Reading a whole JetStream stream range in order with one ordered consumer. */
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';

export interface StreamMsg {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs | undefined;
}

/** Yields messages with stream sequence in [from, to] (to = last at start), in order. */
export async function* readStream(nc: NatsConnection, stream: string, from = 1, to?: number): AsyncGenerator<StreamMsg> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const end = to ?? info.state.last_seq;
  if (info.state.messages === 0 || end < Math.max(from, info.state.first_seq)) return;
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, from) });
  const messages = await consumer.consume({ max_messages: 1024 });
  try {
    for await (const m of messages) {
      if (m.seq > end) break;
      yield { seq: m.seq, subject: m.subject, data: m.data, headers: m.headers };
      if (m.seq >= end) break;
    }
  } finally {
    await messages.close();
  }
}

export async function streamExists(nc: NatsConnection, stream: string): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(stream);
    return true;
  } catch (e) {
    if (e instanceof Error && /not found/i.test(e.message)) return false;
    throw e;
  }
}
