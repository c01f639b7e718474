/**
 * hwl_api_requests_total{route,code}: every answered request. `route` is the
 * HTTP route pattern (/v1/audit/{key}, never the raw path: ids in labels
 * would grow without bound) or the gRPC method path; `code` the HTTP status
 * or gRPC status name.
 */
import { Counter, Registry } from 'prom-client';

export class ApiMetrics {
  readonly requests: Counter<'route' | 'code'>;

  constructor(readonly registry: Registry = new Registry()) {
    const existing = registry.getSingleMetric('hwl_api_requests_total');
    this.requests =
      (existing as Counter<'route' | 'code'> | undefined) ??
      new Counter({
        name: 'hwl_api_requests_total',
        help: 'API requests answered, by route and status code',
        labelNames: ['route', 'code'],
        registers: [registry],
      });
  }

  count(route: string, code: string | number): void {
    this.requests.inc({ route, code: String(code) });
  }
}
