/**
 * Prometheus conventions shared by every service (docs/operations.md
 * "Metrics"): prom-client, base units (seconds, bytes), counters end in
 * `_total`, labels only of bounded sets (chain, kind, code, reason, state):
 * never a tenant, request, job or device id (unbounded series, and tenant
 * names would leak into monitoring). `promtool check metrics` must pass on
 * every /metrics endpoint (packages/stack/test/stack.e2e.test.ts checks it).
 */
import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * prom-client's default metrics that break the Prometheus naming rules
 * (gauges with a `_total` suffix): `promtool check metrics` rejects them.
 */
export const NONCOMPLIANT_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/** Label names no hwledger metric may carry (high cardinality, tenant data). */
export const FORBIDDEN_METRIC_LABELS = ['tenant', 'tenant_id', 'request', 'request_id', 'job', 'job_id', 'device', 'device_id', 'event_id'] as const;

/** Process and Node.js runtime metrics (prom-client defaults) without the noncompliant ones. */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of NONCOMPLIANT_DEFAULT_METRICS) registry.removeSingleMetric(name);
}
