/**
 * A Checkpointer fenced by another writer that is *ahead* of it goes
 * `dormant` ("standing by until the next resume", checkpointer.ts onFenced)
 * and nothing but reload() (start/onResume) cleared it (found in a review). The standalone
 * `hwledger checkpointer` (follow()) never gets an onResume, and a sequencer
 * that keeps its leadership never calls it again: once the other writer (a
 * second standalone checkpointer, a stale process, a timer-triggered
 * checkpoint a few records ahead) stops, this process has long passed that
 * checkpoint and still never issues another one. Records sealed afterwards are
 * never checkpointed (no proofs, no truncation evidence), silently (one warn).
 * Now it looks again once its tree has reached that checkpoint, adopts it if
 * its tree reproduces it, and issues on.
 */
import { describe, expect, it } from 'vitest';
import { generateSigner, genesisHash } from '@hwledger/chain';
import { useNatsServer } from '@hwledger/testkit';
import { Checkpointer, CheckpointLog } from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'ckpt-dormant' });
const key = generateSigner('hwl-dormant');

describe('a checkpointer fenced by a writer that was ahead', () => {
  it('issues again once its own tree has passed the other writer\'s checkpoint', async () => {
    const chain = 'dormant';
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(1_500);

    // Ours: started while the log is empty.
    const ours = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key], everyRecords: 100, intervalMs: 0, kvIntervalMs: 0 });
    await ours.start();
    await ours.onResume({ sequence: 0n, hash: genesisHash(chain) });

    // Another writer checkpoints records 1..300 first (100, 200, 300), then goes away.
    await checkpointWriter(nats.nc, { ...w, hashes: w.hashes.slice(0, 300) } as unknown as ChainWriter, key, 100);

    // Ours reaches 100, is fenced while behind the other's 300: dormant.
    for (let i = 0; i < 100; i++) await ours.onSealed({ sequence: BigInt(i + 1), hash: w.hashes[i]!, prevHash: i === 0 ? genesisHash(chain) : w.hashes[i - 1]! });
    await ours.flush();
    // It goes on sealing far past 300; the other writer is gone.
    for (let i = 100; i < 1_500; i++) {
      await ours.onSealed({ sequence: BigInt(i + 1), hash: w.hashes[i]!, prevHash: w.hashes[i - 1]! });
      if (i % 100 === 0) await ours.flush();
    }
    await ours.stop({ flush: true });
    expect(ours.failure).toBeUndefined();

    const log = await CheckpointLog.open(nats.nc, chain);
    const latest = await log.latest();
    log.close();
    // 1,200 records sealed after the other writer's last checkpoint, and this process is the only writer left.
    expect(latest?.checkpoint.sequence).toBe(1_500n);
  }, 60_000);
});
