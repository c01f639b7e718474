/** Prometheus metrics of the agent (prom-client), registered on the caller's registry. */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { OutboxQuarantine } from './outbox.js';

export interface AgentMetrics {
  /** Events accepted (durable), by where they were stored first. */
  accepted: Counter<'stored'>;
  /** Events published to the ingest stream with a PubAck, by path. */
  published: Counter<'via'>;
  /** Ingest messages PubAck'ed, by path. */
  batches: Counter<'via'>;
  /** Events whose ingest message the stream reported as a duplicate (already stored). */
  duplicates: Counter;
  /** Failed publish attempts (timeout, disconnect, JetStream error). */
  publishFailures: Counter;
  /** Events that could be stored nowhere (NATS and outbox both failed): never accepted. */
  refused: Counter;
  natsConnected: Gauge;
}

export function agentMetrics(
  registry: Registry,
  read: { outboxEvents: () => number; outboxBytes: () => number; pending: () => number; quarantined?: () => Readonly<OutboxQuarantine> },
): AgentMetrics {
  const registers = [registry];
  new Gauge({
    name: 'hwl_agent_outbox_depth',
    help: 'Events in the local outbox waiting to be published to the ingest stream',
    registers,
    collect() {
      this.set(read.outboxEvents());
    },
  });
  new Gauge({
    name: 'hwl_agent_outbox_bytes',
    help: 'Bytes in the local outbox waiting to be published',
    registers,
    collect() {
      this.set(read.outboxBytes());
    },
  });
  new Gauge({
    name: 'hwl_agent_pending_events',
    help: 'Events submitted but not yet durably stored (in a batch being built or published)',
    registers,
    collect() {
      this.set(read.pending());
    },
  });
  const quarantined = read.quarantined;
  if (quarantined) {
    // Set aside when the outbox was opened (outbox-scan.ts): never replayed.
    new Gauge({
      name: 'hwl_agent_outbox_quarantined_regions',
      help: 'Unreadable outbox regions set aside at start (kind="torn": an incomplete last frame, never acknowledged; kind="corrupt": frames failing their checksum, possibly acknowledged events: investigate)',
      labelNames: ['kind'],
      registers,
      collect() {
        const q = quarantined();
        this.set({ kind: 'torn' }, q.tornTails);
        this.set({ kind: 'corrupt' }, q.corruptRegions);
      },
    });
    new Gauge({
      name: 'hwl_agent_outbox_quarantined_bytes',
      help: 'Bytes of the unreadable outbox regions set aside at start, by kind',
      labelNames: ['kind'],
      registers,
      collect() {
        const q = quarantined();
        this.set({ kind: 'torn' }, q.tornBytes);
        this.set({ kind: 'corrupt' }, q.corruptBytes);
      },
    });
  }
  return {
    accepted: new Counter({ name: 'hwl_agent_events_accepted_total', help: 'Events durably stored (JetStream PubAck or outbox fsync)', labelNames: ['stored'], registers }),
    published: new Counter({ name: 'hwl_agent_events_published_total', help: 'Events published to the ingest stream and acknowledged', labelNames: ['via'], registers }),
    batches: new Counter({ name: 'hwl_agent_ingest_messages_total', help: 'Ingest messages (IngestBatch) acknowledged', labelNames: ['via'], registers }),
    duplicates: new Counter({ name: 'hwl_agent_duplicate_events_total', help: 'Events in ingest messages the stream had already stored (Nats-Msg-Id dedup)', registers }),
    publishFailures: new Counter({ name: 'hwl_agent_publish_failures_total', help: 'Failed ingest publish attempts', registers }),
    refused: new Counter({ name: 'hwl_agent_events_refused_total', help: 'Events neither published nor stored in the outbox (not accepted)', registers }),
    natsConnected: new Gauge({ name: 'hwl_agent_nats_connected', help: '1 while connected to NATS with the ingest stream reachable', registers }),
  };
}
