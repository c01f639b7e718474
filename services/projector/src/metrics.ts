/** Prometheus metrics of the projector (prom-client), reused if already registered on the registry. */
import { Counter, Gauge, register as defaultRegistry, type Registry } from 'prom-client';

export interface ProjectorMetrics {
  lag: Gauge<'chain'>;
  sequence: Gauge<'chain'>;
  verificationFailures: Counter<'chain' | 'reason'>;
  records: Counter<'chain'>;
  batches: Counter<'chain'>;
  dbRetries: Counter<'chain'>;
  broken: Gauge<'chain'>;
}

function get<M>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

export function projectorMetrics(registry: Registry = defaultRegistry): ProjectorMetrics {
  const registers = [registry];
  return {
    lag: get(
      registry,
      'hwl_projector_lag_records',
      () =>
        new Gauge({
          name: 'hwl_projector_lag_records',
          help: 'Records on the chain stream not yet projected',
          labelNames: ['chain'],
          registers,
        }),
    ),
    sequence: get(
      registry,
      'hwl_projector_sequence',
      () =>
        new Gauge({
          name: 'hwl_projector_sequence',
          help: 'Last sequence verified and projected (the checkpoint)',
          labelNames: ['chain'],
          registers,
        }),
    ),
    verificationFailures: get(
      registry,
      'hwl_verification_failures_total',
      () =>
        new Counter({
          name: 'hwl_verification_failures_total',
          help: 'Chain verification failures met by the projector, by reason',
          labelNames: ['chain', 'reason'],
          registers,
        }),
    ),
    records: get(
      registry,
      'hwl_projector_records_total',
      () =>
        new Counter({
          name: 'hwl_projector_records_total',
          help: 'Records projected',
          labelNames: ['chain'],
          registers,
        }),
    ),
    batches: get(
      registry,
      'hwl_projector_batches_total',
      () =>
        new Counter({
          name: 'hwl_projector_batches_total',
          help: 'Batches committed',
          labelNames: ['chain'],
          registers,
        }),
    ),
    dbRetries: get(
      registry,
      'hwl_projector_retries_total',
      () =>
        new Counter({
          name: 'hwl_projector_retries_total',
          help: 'Projection restarts after a database or NATS error',
          labelNames: ['chain'],
          registers,
        }),
    ),
    broken: get(
      registry,
      'hwl_projector_chain_broken',
      () =>
        new Gauge({
          name: 'hwl_projector_chain_broken',
          help: '1 when the projector stopped at a record that fails verification',
          labelNames: ['chain'],
          registers,
        }),
    ),
  };
}
