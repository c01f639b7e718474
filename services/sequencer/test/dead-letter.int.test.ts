/**
 * publishDeadLetters against a real nats-server: one hostile message can carry
 * up to MAX_EVENTS_PER_MESSAGE rejected events, and their dead letters are
 * published at most 256 at a time (not one PubAck wait per letter all at
 * once), every one stored, and a second publication of the same letters (a
 * restarted session rejecting the same events) reported as duplicates.
 */
import { describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { ensureChainTopology, streams } from '@hwledger/core';
import { useNatsServer } from '@hwledger/testkit';
import type { DeadLetter } from '@hwledger/sequencer';
import { publishDeadLetters } from '../src/dead-letter.js';

const nats = useNatsServer();

/** The real client, counting publishes in flight (started, PubAck not yet settled). */
function counting(js: JetStreamClient): { js: JetStreamClient; max: () => number } {
  let now = 0;
  let max = 0;
  const proxy = new Proxy(js, {
    get(target, prop, receiver) {
      if (prop !== 'publish') return Reflect.get(target, prop, receiver) as unknown;
      return (...args: Parameters<JetStreamClient['publish']>) => {
        now++;
        max = Math.max(max, now);
        return target.publish(...args).finally(() => now--);
      };
    },
  });
  return { js: proxy, max: () => max };
}

describe('publishDeadLetters', () => {
  it('keeps at most 256 in flight, stores every letter, and reports a second publication as duplicates', async () => {
    const chain = 'dlq-bound';
    await ensureChainTopology(nats.nc, chain);
    const letters: DeadLetter[] = Array.from({ length: 1_000 }, (_, i) => ({
      body: new Uint8Array([i & 0xff, i >> 8]),
      code: 'INVALID_FIELD',
      reason: `event ${i} is invalid`,
      origSubject: `hwl.ingest.${chain}.node-1`,
      ingestSeq: 7,
      index: i,
    }));
    const first = counting(jetstream(nats.nc));
    const dup1 = await publishDeadLetters(first.js, chain, letters, nats.nc.info!.max_payload, 1);
    expect(dup1).toHaveLength(1_000);
    expect(dup1.every((d) => !d)).toBe(true);
    expect(first.max()).toBe(256);
    const jsm = await jetstreamManager(nats.nc);
    expect((await jsm.streams.info(streams.dlq(chain))).state.messages).toBe(1_000);

    const again = counting(jetstream(nats.nc));
    const dup2 = await publishDeadLetters(again.js, chain, letters, nats.nc.info!.max_payload, 1);
    expect(dup2.every((d) => d)).toBe(true);
    expect(again.max()).toBeLessThanOrEqual(256);
    expect((await jsm.streams.info(streams.dlq(chain))).state.messages).toBe(1_000);
  });
});
