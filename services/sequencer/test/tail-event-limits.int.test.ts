/**
 * A restarted session checks that the ingest stream still holds the tail
 * record's event at the watermark (ingest-recreated.int.test.ts: otherwise the
 * stream was re-created and is consumed from its start). It must judge that
 * message with the sequencer's own admission options (`limits`,
 * `maxIngestBytes`): with the defaults instead, a tail event that only the
 * configured limits accept (a 300-byte event id under maxIdBytes 1024) looked
 * like "another event at the watermark", the stream was taken for a new one
 * and every unpurged message before the watermark was handled again: events
 * past the recent-id horizon sealed a second time, the others dead-lettered
 * as duplicate_event. Real nats-server, in-process sequencer.
 */
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { ensureChainTopology } from '@hwledger/core';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { Sequencer, type SequencerOptions } from '@hwledger/sequencer';
import { checkChain, dlqCounts, exactlyOnce, makeEvent, nodeSource, publishEvents, sleep } from './helpers.js';

const nats = useNatsServer();

async function sealUntil(opts: Omit<SequencerOptions, 'nc' | 'registry'>, count: number): Promise<void> {
  const seq = new Sequencer({ nc: nats.nc, registry: new Registry(), takeoverGraceMs: 0, ...opts });
  await seq.start();
  try {
    await waitFor(async () => (await checkChain(nats.nc, opts.chainId)).count >= count, 20_000, 50, `${count} records`);
    await sleep(300); // anything sealed twice would show by now
  } finally {
    await seq.stop();
  }
}

describe('the watermark check after a restart uses the configured limits', () => {
  it('a tail event only the configured limits accept is not taken for a re-created ingest stream', async () => {
    const chain = 'tail-limits';
    await ensureChainTopology(nats.nc, chain);
    const limits = { maxIdBytes: 1024, maxTextBytes: 4096 };
    const source = nodeSource(chain, 'node-1');
    const plain = makeEvent(1, source);
    const longId = { ...makeEvent(2, source), eventId: `long-${'x'.repeat(300)}` }; // valid under maxIdBytes 1024 only
    await publishEvents(nats.nc, chain, [plain], 1); // ingest 1
    await publishEvents(nats.nc, chain, [longId], 1); // ingest 2: the tail's watermark
    // recentIds 1: the restarted sequencer remembers only the tail's event, so a replay shows as a second record.
    await sealUntil({ chainId: chain, limits, recentIds: 1 }, 2);

    const later = makeEvent(3, source);
    await publishEvents(nats.nc, chain, [later], 1); // ingest 3
    await sealUntil({ chainId: chain, limits, recentIds: 1 }, 3);

    const check = await checkChain(nats.nc, chain);
    expect(check.result.ok).toBe(true);
    expect(exactlyOnce(check.ids, [plain, longId, later])).toEqual({ missing: [], doubled: [], unexpected: [] });
    expect(await dlqCounts(nats.nc, chain)).toEqual({});
  }, 60_000);
});
