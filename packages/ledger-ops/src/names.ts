/**
 * NATS names this package owns (documented in docs/proofs.md):
 *
 *   stream HWL_CKPT_<chain>, subject hwl.checkpoint.<chain>   every signed checkpoint, in order
 *   KV hwl_checkpoints, key <chain>                           the latest checkpoint (readers' shortcut)
 *   KV hwl_checkpoints, key <chain>.anchor                    the archival anchor (cut) of the chain
 *   KV hwl_checkpoints, key <chain>.archive / <chain>.replica last archive / replication run (status)
 *   stream HWL_FLEET_<fleet>, subject hwl.fleet.<fleet>       the fleet anchor: hash-linked region checkpoints
 */
import { RetentionPolicy, StorageType, DiscardPolicy, type StreamConfig } from '@nats-io/jetstream';
import { KV_BUCKETS, assertToken, streams, subjects } from '@hwledger/core';

/** Headers of a checkpoint stream message (body = the signed note). */
export const CKPT_HEADERS = {
  /** Tree size (= checkpoint sequence), decimal. */
  size: 'Hwl-Tree-Size',
  /** Compact range of the tree at this size: concatenated lowercase hex hashes, largest subtree first. */
  compactRange: 'Hwl-Compact-Range',
  /** Tree size of the previous checkpoint on the stream (0 for the first). */
  prevSize: 'Hwl-Prev-Size',
  /** RFC 9162 consistency proof from the previous checkpoint to this one (concatenated hex). */
  consistency: 'Hwl-Consistency',
} as const;

export const CHECKPOINT_BUCKET = KV_BUCKETS.checkpoints;

export const kvKeys = {
  latest: (chain: string): string => chain,
  anchor: (chain: string): string => `${chain}.anchor`,
  archive: (chain: string): string => `${chain}.archive`,
  replica: (chain: string): string => `${chain}.replica`,
  fleet: (fleet: string): string => `fleet.${fleet}`,
} as const;

const ns = (n: number): number => n * 1_000_000;

export function checkpointStreamConfig(chain: string, replicas = 1): Partial<StreamConfig> & { name: string } {
  return {
    name: streams.checkpoint(chain),
    subjects: [subjects.checkpoint(chain)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    num_replicas: replicas,
    duplicate_window: ns(120_000),
    // Checkpoints are evidence: never deleted, never purged (archival keeps them all).
    deny_delete: true,
    deny_purge: true,
  };
}

export const fleetNames = {
  stream: (fleet: string): string => `HWL_FLEET_${assertToken(fleet, 'fleet name')}`,
  subject: (fleet: string): string => `hwl.fleet.${assertToken(fleet, 'fleet name')}`,
} as const;

export function fleetStreamConfig(fleet: string, replicas = 1): Partial<StreamConfig> & { name: string } {
  return {
    name: fleetNames.stream(fleet),
    subjects: [fleetNames.subject(fleet)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    num_replicas: replicas,
    duplicate_window: ns(120_000),
    deny_delete: true,
    deny_purge: true,
  };
}
