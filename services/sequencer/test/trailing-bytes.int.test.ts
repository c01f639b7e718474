/**
 * Hostile input that the ingest decoder accepts only in part: the generated
 * IngestBatch decoder (ts-proto) stops at a zero tag or an end-group tag and
 * returns the events read so far, ignoring the bytes after it. A rejected
 * event of such a message (FOREIGN_SOURCE, duplicate_event, INVALID_FIELD …)
 * is dead-lettered as its own bytes, cut out of the message by
 * splitBatchEvents, which walked the whole message and threw on the bytes the
 * decoder had ignored ("illegal tag: field no 0"). The throw ended the session
 * before the dead letter; the next session met the same message at the same
 * place, so the sequencer sealed nothing more, ever: one message from one
 * node stopped the chain.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { decodeIngestBatch, encodeIngestBatch } from '@hwledger/proto';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { Sequencer, splitBatchEvents } from '@hwledger/sequencer';
import { checkChain, exactlyOnce, makeEvent, makeEvents, nodeSource, publishEvents, publishRaw, readDeadLetters, sleep } from './helpers.js';

const CHAIN = 'trailing';

/** `body` with `tail` appended: bytes the decoder never reads (it stops at the first of them). */
function withTrailing(body: Uint8Array, tail: number[]): Uint8Array {
  const out = new Uint8Array(body.length + tail.length);
  out.set(body);
  out.set(tail, body.length);
  return out;
}

describe('ingest messages with bytes after a stop tag', () => {
  const nats = useNatsServer();

  it('splitBatchEvents never throws on a body the decoder accepted', () => {
    const good = encodeIngestBatch([makeEvent(1, nodeSource(CHAIN, 'n'))]);
    for (const tail of [[0x00], [0x00, 0xff, 0xff], [0x0c], [0x14, 0x01], [0x0c, 0xff]]) {
      expect(() => splitBatchEvents(withTrailing(good, tail))).not.toThrow();
      expect(splitBatchEvents(withTrailing(good, tail))).toHaveLength(1);
    }
  });

  it('splitBatchEvents finds exactly the events the decoder decoded, in corrupted messages too', () => {
    const base = encodeIngestBatch([makeEvent(1, nodeSource(CHAIN, 'n')), makeEvent(2, nodeSource(CHAIN, 'n')), makeEvent(5, nodeSource(CHAIN, 'n'))]);
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.constantFrom(0x00, 0x0c, 0x14, 0x12, 0x08, 0xff, 0x01)), { minLength: 1, maxLength: 3 }), (edits) => {
        const b = base.slice();
        for (const [at, v] of edits) b[at] = v;
        let n: number;
        try {
          n = decodeIngestBatch(b).events.length;
        } catch {
          return; // refused as a whole message: never split
        }
        accepted++;
        expect(() => splitBatchEvents(b)).not.toThrow();
        expect(splitBatchEvents(b)).toHaveLength(n);
      }),
      { numRuns: 5000 },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  it('dead-letters a rejected event of such a message and keeps sealing', async () => {
    const registry = new Registry();
    const seq = new Sequencer({ nc: nats.nc, chainId: CHAIN, registry, takeoverGraceMs: 0 });
    await seq.start();
    try {
      const before = makeEvents(0, 3, nodeSource(CHAIN, 'node-1'));
      await publishEvents(nats.nc, CHAIN, before, 3, 'node-1');
      await waitFor(async () => (await checkChain(nats.nc, CHAIN)).count >= 3, 20_000, 100, 'first events');

      // From node-2: an event of node-1's source (FOREIGN_SOURCE), then a zero byte.
      const foreign = makeEvent(100, nodeSource(CHAIN, 'node-1'));
      await publishRaw(nats.nc, CHAIN, withTrailing(encodeIngestBatch([foreign]), [0x00]), 'node-2');
      // A repeat of a sealed event (duplicate_event), then an end-group tag and garbage.
      await publishRaw(nats.nc, CHAIN, withTrailing(encodeIngestBatch([before[0]!]), [0x0c, 0xff, 0xff]), 'node-1');

      const after = makeEvents(200, 3, nodeSource(CHAIN, 'node-1'));
      await publishEvents(nats.nc, CHAIN, after, 3, 'node-1');
      await waitFor(async () => (await checkChain(nats.nc, CHAIN)).count >= 6, 20_000, 100, 'events after the hostile messages sealed');
      await sleep(200);

      const check = await checkChain(nats.nc, CHAIN);
      expect(check.result.ok).toBe(true);
      expect(exactlyOnce(check.ids, [...before, ...after])).toEqual({ missing: [], doubled: [], unexpected: [] });
      const letters = await readDeadLetters(nats.nc, CHAIN);
      expect(letters.map((l) => l.code).sort()).toEqual(['FOREIGN_SOURCE', 'duplicate_event']);
    } finally {
      await seq.stop();
    }
  }, 60_000);
});
