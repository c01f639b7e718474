/**
 * A process that died after publishing a checkpoint to the log and before
 * mirroring it to KV left the KV copy behind; on an idle chain no later
 * checkpoint brought it up to date, so readers of KV (verify, the API, the
 * dashboard) saw an old checkpoint for good. A checkpointer that starts now
 * mirrors the log's latest checkpoint at once. Found in a review. Real
 * nats-server.
 */
import { describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { generateSigner, verifierOf } from '@hwledger/chain';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { CHECKPOINT_BUCKET, Checkpointer, CheckpointLog, kvKeys } from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'kv-resync' });
const key = generateSigner('hwl-kv-resync');

describe('checkpoint KV copy after a crash between the log and KV', () => {
  it('is brought up to the log\'s latest when a checkpointer starts, with no new record', async () => {
    const chain = 'kv-resync';
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(300);
    await checkpointWriter(nats.nc, w, key, 100);
    const log = await CheckpointLog.open(nats.nc, chain);
    expect((await log.latest())?.checkpoint.sequence).toBe(300n);
    // What the crash leaves: the log at 300, the KV copy missing (or behind).
    const kv = await new Kvm(nats.nc).open(CHECKPOINT_BUCKET);
    await kv.delete(kvKeys.latest(chain));
    expect(await log.kvLatest()).toBeUndefined();

    const cp = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key], trusted: [verifierOf(key)], everyRecords: 100, intervalMs: 0, kvIntervalMs: 0 });
    await cp.start();
    try {
      await waitFor(async () => (await log.kvLatest())?.size === 300n, 5_000, 50, 'the KV copy at 300');
    } finally {
      await cp.stop({ flush: false });
      log.close();
    }
  });
});
