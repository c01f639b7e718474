/**
 * The agent: takes events from its producers (nvidia-smi sampler, simulated
 * fleet, scheduler hook), validates them, and delivers them in order to the
 * chain's ingest subject `hwl.ingest.<chain>.<node>` as IngestBatch messages
 * with a deterministic Nats-Msg-Id, falling back to a local fsync'd outbox
 * while NATS is unreachable (docs/agent.md).
 */
import { resolve } from 'node:path';
import { ChainError, validateEvent, type ChainEvent } from '@hwledger/chain';
import { assertToken, ensureChainTopology, isOwnSource, silentLogger, streams, subjects, type Logger, type TopologyOptions } from '@hwledger/core';
import { Registry } from 'prom-client';
import { agentMetrics, type AgentMetrics } from './agent-metrics.js';
import { MAX_INGEST_BODY_BYTES } from './ingest-batch-builder.js';
import { loadMsgIdKey } from './msg-id-key.js';
import { NatsLink } from './nats-link.js';
import { Outbox } from './outbox.js';
import { Shipper, type Acceptance, type ShipperStats } from './shipper.js';

export interface AgentOptions {
  /** Chain id (a subject token). */
  chainId: string;
  /** This agent's node name (a subject token): subject hwl.ingest.<chain>.<node>, source <chain>/<node>. */
  node: string;
  /** NATS server URL. */
  natsUrl: string;
  /** Outbox directory (default `.hwledger/outbox/<chain>-<node>` under the working directory). */
  outboxDir?: string;
  /** Refuse events beyond this many pending outbox bytes (default 1 GiB). */
  outboxMaxBytes?: number;
  /** Max events per ingest message (default 1000). */
  batchMaxEvents?: number;
  /** Max bytes per ingest message body (default 512 KiB, at most 1 MiB - 8 KiB). */
  batchMaxBytes?: number;
  /** Max ms an event waits for its batch to be closed (default 5). */
  batchMaxDelayMs?: number;
  /** PubAck timeout (default 5000 ms). */
  publishTimeoutMs?: number;
  /** Create the chain's streams if missing (default true). */
  ensureTopology?: boolean;
  topology?: TopologyOptions;
  logger?: Logger;
  /** prom-client registry for hwl_agent_* metrics (default: a private one). */
  registry?: Registry;
}

export function defaultOutboxDir(chainId: string, node: string): string {
  return resolve('.hwledger', 'outbox', `${chainId}-${node}`);
}

/** The spec's `source` of events produced by `node` of `chainId`. */
export function sourceOf(chainId: string, node: string): string {
  return `${chainId}/${node}`;
}

export class Agent {
  readonly source: string;
  readonly subject: string;
  readonly registry: Registry;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  private stopped = false;

  private constructor(
    readonly chainId: string,
    readonly node: string,
    readonly outbox: Outbox,
    private readonly link: NatsLink,
    private readonly shipper: Shipper,
    registry: Registry,
    metrics: AgentMetrics,
    logger: Logger,
  ) {
    this.source = sourceOf(chainId, node);
    this.subject = subjects.ingest(chainId, node);
    this.registry = registry;
    this.metrics = metrics;
    this.logger = logger;
  }

  /** Opens the outbox (replaying what an earlier run left), starts connecting and delivering. */
  static async open(o: AgentOptions): Promise<Agent> {
    assertToken(o.chainId, 'chain id');
    assertToken(o.node, 'node');
    const logger = o.logger ?? silentLogger();
    const registry = o.registry ?? new Registry();
    const outbox = await Outbox.open(o.outboxDir ?? defaultOutboxDir(o.chainId, o.node), { logger, maxBytes: o.outboxMaxBytes });
    // Message ids no other node can compute (msg-id-key.ts), stable across restarts with this outbox.
    const msgIdKey = await loadMsgIdKey(outbox.dir).catch(async (e: unknown) => {
      await outbox.close();
      throw e;
    });
    let shipper: Shipper | undefined = undefined; // set below; the link's callbacks need it first
    const metricsRef: { m?: AgentMetrics } = {};
    const link = new NatsLink({
      url: o.natsUrl,
      name: `hwledger-agent-${o.chainId}-${o.node}`,
      logger,
      setup: o.ensureTopology === false ? undefined : async (nc) => void (await ensureChainTopology(nc, o.chainId, o.topology)),
      onChange: (up) => {
        metricsRef.m?.natsConnected.set(up ? 1 : 0);
        shipper?.wake();
      },
    });
    const metrics = agentMetrics(registry, {
      outboxEvents: () => outbox.depthEvents,
      outboxBytes: () => outbox.depthBytes,
      pending: () => shipper?.pending ?? 0,
      quarantined: () => outbox.quarantined,
    });
    metricsRef.m = metrics;
    shipper = new Shipper({
      subject: subjects.ingest(o.chainId, o.node),
      stream: streams.ingest(o.chainId),
      outbox,
      link,
      logger,
      metrics,
      maxEvents: o.batchMaxEvents ?? 1000,
      maxBytes: Math.min(o.batchMaxBytes ?? 512 * 1024, MAX_INGEST_BODY_BYTES),
      maxDelayMs: o.batchMaxDelayMs ?? 5,
      publishTimeoutMs: o.publishTimeoutMs ?? 5_000,
      msgIdKey,
    });
    link.start();
    shipper.start();
    return new Agent(o.chainId, o.node, outbox, link, shipper, registry, metrics, logger);
  }

  get connected(): boolean {
    return this.link.connected;
  }

  /** Totals of this process: accepted (by store), refused, published (by path). */
  stats(): ShipperStats {
    return structuredClone(this.shipper.stats);
  }

  /** Events submitted and not yet durable. */
  get pending(): number {
    return this.shipper.pending;
  }

  /**
   * Validates the event (spec admission policy: throws ChainError when the
   * sequencer would refuse it, including a source that is not this agent's
   * own `<chain>/<node>` or below it: docs/sequencer.md, "Sources") and
   * queues it. The promise resolves when the event is durable (PubAck or
   * outbox fsync) and rejects when it could be stored nowhere.
   */
  submit(event: ChainEvent): Promise<Acceptance> {
    validateEvent(event);
    const own = this.source;
    if (!isOwnSource(own, event.source)) {
      throw new ChainError(
        'INVALID_FIELD',
        `source ${JSON.stringify(event.source)} is not this agent's: events on ${this.subject} must have source ${own} or ${own}/… (the sequencer would dead-letter it as FOREIGN_SOURCE)`,
        'source',
      );
    }
    return this.shipper.add(event);
  }

  /** Backpressure: resolves when fewer than `limit` events are pending. */
  waitForCapacity(limit = 20_000): Promise<void> {
    return this.shipper.waitBelow(limit);
  }

  /** Waits until everything submitted is durable and the outbox is empty; false on timeout. */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.shipper.pending === 0 && this.outbox.isEmpty) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Clean shutdown: stops taking events, ships every event already taken
   * (publish or outbox), flushes the outbox for up to `flushTimeoutMs` while
   * connected, then closes the connection and the outbox. Nothing accepted is
   * lost: what is not flushed stays in the outbox for the next start.
   */
  async stop(opts: { flushTimeoutMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.shipper.stop(opts.flushTimeoutMs ?? 5_000);
    await this.link.close();
    await this.outbox.close();
    this.logger.info({ outboxEvents: this.outbox.depthEvents }, 'agent: stopped');
  }
}
