/** `hwledger sequencer --checkpoint-key FILE`: a Checkpointer fed by the sequencer's onSealedLink/onResume hooks (no copy of the record per call) (issue 6). */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '@hwledger/core';
import { Checkpointer, loadSigner, type SealedInput } from '@hwledger/ledger-ops';

export interface SequencerCheckpoints {
  hooks: {
    onSealedLink: (s: SealedInput) => void | Promise<void>;
    onResume: (t: { sequence: bigint; hash: Uint8Array }) => Promise<void>;
  };
  stop(): Promise<void>;
}

export async function startSequencerCheckpointer(
  nc: NatsConnection,
  chainId: string,
  logger: Logger,
  o: { checkpointKey?: string[]; checkpointEvery: number; checkpointIntervalMs: number; replicas?: number },
): Promise<SequencerCheckpoints | undefined> {
  const files = o.checkpointKey ?? (process.env['HWL_CHECKPOINT_KEY'] ? process.env['HWL_CHECKPOINT_KEY'].split(',') : []);
  if (files.length === 0) return undefined;
  const cp = new Checkpointer({ nc, chainId, signers: files.map(loadSigner), everyRecords: o.checkpointEvery, intervalMs: o.checkpointIntervalMs, replicas: o.replicas ?? 1, logger });
  await cp.start();
  logger.info({ every: o.checkpointEvery, intervalMs: o.checkpointIntervalMs, keys: files.length }, 'signed checkpoints enabled');
  return {
    hooks: { onSealedLink: (s) => cp.onSealed(s), onResume: (t) => cp.onResume(t) },
    stop: () => cp.stop({ flush: true }),
  };
}
