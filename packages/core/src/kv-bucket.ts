/**
 * The KV buckets hwledger shares between chains (`hwl_leader`,
 * `hwl_checkpoints`), opened with rollups refused.
 *
 * Threat: one bucket holds every chain's keys, and each sequencer may publish
 * its own chain's keys only. But a message with header `Nats-Rollup: all` on
 * a key it may write purges the whole stream behind the bucket: every other
 * region's lease and latest checkpoint. nats.js creates KV streams with
 * `allow_rollup_hdrs: true` (its `purge()` needs it; hwledger never purges a
 * key), so the stream is created here first, with the settings nats.js would
 * choose and rollups refused, and nats.js then opens it as it is. Buckets made
 * before this (rollups allowed) are changed by the topology job
 * (`hardenKvBucket`, as the NATS admin: a sequencer may not update streams).
 */
import { DiscardPolicy, jetstreamManager, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ensureStream } from './nats.js';

export interface KvBucketOptions {
  /** Values kept per key. */
  history: number;
  /** Age after which values expire (ms); none when absent. */
  ttlMs?: number;
  replicas?: number;
}

/** `KV_<bucket>`: the stream behind a bucket. */
export const kvStreamName = (bucket: string): string => `KV_${bucket}`;

/** The stream nats.js's `Kvm.create` makes for these options (nats-server >= 2.9), with rollups refused. */
export function kvStreamConfig(bucket: string, o: KvBucketOptions): Partial<StreamConfig> & { name: string } {
  return {
    name: kvStreamName(bucket),
    subjects: [`$KV.${bucket}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_msgs_per_subject: o.history,
    max_bytes: -1,
    max_msg_size: -1,
    num_replicas: o.replicas ?? 1,
    ...(o.ttlMs !== undefined ? { max_age: o.ttlMs * 1_000_000 } : {}),
    allow_direct: true,
    allow_rollup_hdrs: false,
  };
}

/** Opens a shared bucket, creating its stream with rollups refused when missing (an existing one is opened as it is). */
export async function openKvBucket(nc: NatsConnection, bucket: string, o: KvBucketOptions): Promise<KV> {
  await ensureStream(await jetstreamManager(nc), kvStreamConfig(bucket, o));
  return new Kvm(nc).create(bucket, { history: o.history, replicas: o.replicas ?? 1, ...(o.ttlMs !== undefined ? { ttl: o.ttlMs } : {}) });
}

/** Refuses rollups on an existing bucket's stream (the topology job, as admin). Returns whether it changed anything. */
export async function hardenKvBucket(nc: NatsConnection, bucket: string): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(kvStreamName(bucket));
  if (!info.config.allow_rollup_hdrs) return false;
  await jsm.streams.update(info.config.name, { ...info.config, allow_rollup_hdrs: false });
  return true;
}

/** Whether a bucket's stream still allows rollups (made before they were refused); undefined when it does not exist or cannot be read. */
export async function kvBucketAllowsRollups(nc: NatsConnection, bucket: string): Promise<boolean | undefined> {
  try {
    return (await (await jetstreamManager(nc)).streams.info(kvStreamName(bucket))).config.allow_rollup_hdrs === true;
  } catch {
    return undefined;
  }
}
