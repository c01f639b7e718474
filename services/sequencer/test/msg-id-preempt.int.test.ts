/**
 * A node cannot have another node's events dropped through the ingest
 * stream's Nats-Msg-Id dedup. The window is stream-wide (every subject), so
 * if an agent's message id could be computed from the events alone, node n2
 * could publish a message carrying n1's future id on its own subject first
 * (with a valid body of its own: nothing is dead-lettered), and n1's real
 * message would be answered "duplicate" and never sealed, without a trace.
 * The agent's ids are keyed with its own secret (services/agent/src/msg-id-key.ts).
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { HEADERS, ensureChainTopology, streams, subjects } from '@hwledger/core';
import { encodeIngestBatch } from '@hwledger/proto';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { Sequencer } from '@hwledger/sequencer';
import { Agent, ingestMsgId, MSG_ID_KEY_FILE } from '@hwledger/agent';
import { checkChain, makeEvent } from './helpers.js';

const CHAIN = 'preempt';

describe('Nats-Msg-Id pre-emption across node subjects', () => {
  const nats = useNatsServer();
  let seq: Sequencer | undefined;
  let agent: Agent | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'hwl-preempt-'));

  beforeAll(async () => {
    await ensureChainTopology(nats.nc, CHAIN);
    seq = new Sequencer({ nc: nats.nc, chainId: CHAIN, takeoverGraceMs: 0 });
    await seq.start();
  });

  afterAll(async () => {
    await agent?.stop();
    await seq?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("n2 publishing n1's computable message ids first does not drop n1's events", async () => {
    const victims = [{ ...makeEvent(1, `${CHAIN}/n1`), eventId: 'req-guessable-42' }];
    const batch = [0, 1, 2].map((i) => ({ ...makeEvent(10 + i, `${CHAIN}/n1`), eventId: `req-guessable-${50 + i}` }));
    // n2, on its own subject, with valid events of its own as bodies and every id it can compute for n1's messages.
    const js = jetstream(nats.nc);
    const decoys = [makeEvent(2, `${CHAIN}/n2`), makeEvent(3, `${CHAIN}/n2`)];
    for (const [i, id] of [ingestMsgId(victims), ingestMsgId(batch)].entries()) {
      const h = headers();
      h.set(HEADERS.msgId, id);
      const ack = await js.publish(subjects.ingest(CHAIN, 'n2'), encodeIngestBatch([decoys[i]!]), { headers: h, expect: { streamName: streams.ingest(CHAIN) } });
      expect(ack.duplicate).toBe(false);
    }

    agent = await Agent.open({ chainId: CHAIN, node: 'n1', natsUrl: nats.url, outboxDir: dir, batchMaxDelayMs: 50 });
    await waitFor(() => agent!.connected || undefined, 10_000, 50, 'agent connected');
    const single = await agent.submit(victims[0]!);
    const many = await Promise.all(batch.map((e) => agent!.submit(e)));
    // Stored, not answered as duplicates of n2's messages...
    for (const a of [single, ...many]) expect(a).toEqual({ stored: 'jetstream', duplicate: false });
    // ...and sealed, next to n2's own events.
    const want = [...decoys, ...victims, ...batch].map((e) => `${e.source}\n${e.eventId}`);
    await waitFor(async () => {
      const ids = (await checkChain(nats.nc, CHAIN)).ids;
      return want.every((w) => ids.includes(w)) || undefined;
    }, 20_000, 100, 'every event sealed');
    // The secret lives beside the outbox, readable by the agent's user only.
    const key = join(dir, MSG_ID_KEY_FILE);
    expect(readFileSync(key)).toHaveLength(32);
    expect(statSync(key).mode & 0o077).toBe(0);
  });
});
