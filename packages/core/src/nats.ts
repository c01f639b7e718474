/** NATS connection and the JetStream topology of a chain. */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager, type StreamConfig, RetentionPolicy, StorageType, DiscardPolicy } from '@nats-io/jetstream';
import { HwlError } from './errors.js';
import { streams, subjects } from './subjects.js';
import { natsConnectTarget, redactNatsUrl } from './nats-url.js';

export async function connectNats(url: string, name: string, opts: { maxReconnectAttempts?: number; timeoutMs?: number } = {}): Promise<NatsConnection> {
  try {
    return await connect({
      // Credentials in the URL (nats://user:pass@host) become user/pass (nats.js
      // ignores URL userinfo), with the user's own inbox prefix (nats-inbox.ts).
      ...natsConnectTarget(url),
      name,
      maxReconnectAttempts: opts.maxReconnectAttempts ?? -1,
      reconnectTimeWait: 250,
      timeout: opts.timeoutMs ?? 5_000,
    });
  } catch (e) {
    if (e instanceof HwlError && e.code === 'CONFIG') throw e; // a malformed URL or inbox prefix: not a reachability problem
    throw new HwlError('NATS_UNREACHABLE', `cannot reach NATS at ${redactNatsUrl(url)} (set --nats or NATS_URL): ${redactNatsUrl(e instanceof Error ? e.message : String(e))}`, { cause: e });
  }
}

/**
 * Shuts a connection down for good: drains it (flushes what was published,
 * lets subscriptions finish) for at most `timeoutMs`, then closes it. With the
 * server gone, `drain()` never settles while the client keeps reconnecting
 * (maxReconnectAttempts -1), and that reconnect timer would keep a stopped
 * process alive after SIGTERM; `close()` cancels it.
 */
export async function closeNats(nc: NatsConnection, timeoutMs = 3_000): Promise<void> {
  if (nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    await Promise.race([nc.drain().catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
  if (!nc.isClosed()) await nc.close().catch(() => undefined);
}

export interface TopologyOptions {
  /** Chain stream duplicate window in ms (Nats-Msg-Id dedup). Default 2 min. */
  chainDuplicateWindowMs?: number;
  /** Ingest stream duplicate window in ms. Default 10 min. */
  ingestDuplicateWindowMs?: number;
  /** Replicas for chain/ingest streams (R3 in production). Default 1. */
  replicas?: number;
  /** Max ingest message size in bytes. Default 1 MiB. */
  maxIngestMsgBytes?: number;
}

const ms = (n: number): number => n * 1_000_000; // JetStream durations are nanoseconds

export function chainStreamConfig(chain: string, o: TopologyOptions = {}): Partial<StreamConfig> & { name: string } {
  return {
    name: streams.chain(chain),
    subjects: [subjects.chainAll(chain)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    num_replicas: o.replicas ?? 1,
    duplicate_window: ms(o.chainDuplicateWindowMs ?? 120_000),
    // Records are never deleted one by one; archival purges a prefix (issue 6).
    deny_delete: true,
    allow_rollup_hdrs: false,
  };
}

export function ingestStreamConfig(chain: string, o: TopologyOptions = {}): Partial<StreamConfig> & { name: string } {
  return {
    name: streams.ingest(chain),
    subjects: [subjects.ingestAll(chain)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    num_replicas: o.replicas ?? 1,
    duplicate_window: ms(o.ingestDuplicateWindowMs ?? 600_000),
    max_msg_size: o.maxIngestMsgBytes ?? 1024 * 1024,
  };
}

export function dlqStreamConfig(chain: string, o: TopologyOptions = {}): Partial<StreamConfig> & { name: string } {
  return {
    name: streams.dlq(chain),
    subjects: [subjects.dlq(chain)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: o.replicas ?? 1,
    duplicate_window: ms(600_000),
  };
}

/** Creates a stream when it is missing; an existing one is left as it is, and a concurrent creator winning is fine. */
export async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(cfg.name);
    return;
  } catch (e) {
    if (!(e instanceof Error) || !/not found/i.test(e.message)) throw e;
  }
  try {
    await jsm.streams.add(cfg);
  } catch (e) {
    // A concurrent creator may have won; that is fine if the stream now exists.
    await jsm.streams.info(cfg.name).catch(() => {
      // Service users may not create streams (the generated NATS permissions: a creator picks the
      // whole configuration); say what to do rather than pass on a bare permissions violation.
      if (e instanceof Error && /permissions violation/i.test(e.message)) {
        throw new HwlError('CONFIG', `stream ${cfg.name} does not exist, and this NATS user may not create it: create the topology first (hwledger-stack topology --chains … as the admin NATS user; docker-compose and Kubernetes run it as a job)`);
      }
      throw e;
    });
  }
}

/** Creates the ingest, chain and dead-letter streams of a chain if missing (idempotent). */
export async function ensureChainTopology(nc: NatsConnection, chain: string, o: TopologyOptions = {}): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, ingestStreamConfig(chain, o));
  await ensureStream(jsm, chainStreamConfig(chain, o));
  await ensureStream(jsm, dlqStreamConfig(chain, o));
  return jsm;
}
