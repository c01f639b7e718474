/**
 * Prometheus metrics of the sequencer (prom-client). Registered on the
 * registry passed in (or prom-client's default); registering twice on one
 * registry (two sequencers in one process) reuses the existing metrics.
 */
import { Counter, Gauge, register as defaultRegistry, type Registry } from 'prom-client';
import { FastHistogram } from './fast-histogram.js';

export interface SequencerMetrics {
  sealed: Counter<'chain' | 'kind'>;
  inferenceCompleted: Counter<'chain'>;
  rejected: Counter<'chain' | 'code'>;
  head: Gauge<'chain'>;
  /** One observation per record: a FastHistogram (same exposition as prom-client's Histogram, cheaper per call). */
  sealLatency: FastHistogram<'chain'>;
  isLeader: Gauge<'chain'>;
  fenced: Counter<'chain'>;
}

function get<M>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

export function sequencerMetrics(registry: Registry = defaultRegistry): SequencerMetrics {
  const registers = [registry];
  return {
    sealed: get(registry, 'hwl_records_sealed_total', () => new Counter({ name: 'hwl_records_sealed_total', help: 'Records sealed onto the chain, by kind', labelNames: ['chain', 'kind'], registers })),
    inferenceCompleted: get(
      registry,
      'grafos_audit_records_inference_request_completed_total',
      () =>
        new Counter({
          name: 'grafos_audit_records_inference_request_completed_total',
          help: 'inference_request_completed records sealed (seed 003 emit-rate signal)',
          labelNames: ['chain'],
          registers,
        }),
    ),
    rejected: get(registry, 'hwl_events_rejected_total', () => new Counter({ name: 'hwl_events_rejected_total', help: 'Ingest messages or events dead-lettered, by reject code', labelNames: ['chain', 'code'], registers })),
    head: get(registry, 'hwl_chain_head_sequence', () => new Gauge({ name: 'hwl_chain_head_sequence', help: 'Sequence of the last record this sequencer sealed or found at the tail', labelNames: ['chain'], registers })),
    sealLatency: get(
      registry,
      'hwl_seal_latency_seconds',
      () =>
        new FastHistogram({
          name: 'hwl_seal_latency_seconds',
          help: 'Producer observed_at to record stored (PubAck), seconds',
          labelNames: ['chain'],
          buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
          registers,
        }),
    ),
    isLeader: get(registry, 'hwl_sequencer_is_leader', () => new Gauge({ name: 'hwl_sequencer_is_leader', help: '1 while this process holds the chain lease and seals', labelNames: ['chain'], registers })),
    fenced: get(registry, 'hwl_sequencer_fenced_total', () => new Counter({ name: 'hwl_sequencer_fenced_total', help: 'Appends refused by Nats-Expected-Last-Sequence (another writer appended)', labelNames: ['chain'], registers })),
  };
}
