/**
 * A Prometheus histogram for the sealing hot path (`hwl_seal_latency_seconds`,
 * one observation per record). It registers on a prom-client registry and
 * exposes exactly what prom-client's Histogram exposes (cumulative `le`
 * buckets, `+Inf`, `_sum`, `_count`, same order and format: checked against
 * prom-client in fast-histogram.unit.test.ts), but an observation through a
 * child is a bucket search and three additions. prom-client's
 * `labels(...).observe(v)` converts, validates and hashes the labels on
 * every call, which cost about 0.2 µs per record.
 */
import type { Registry } from 'prom-client';

export interface FastHistogramOptions<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Upper bounds, ascending (the `le` buckets; +Inf is implied). */
  buckets: readonly number[];
  registers?: Registry[];
}

/** One label set's series; what `labels()` returns. */
export class FastHistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${String(value)}`);
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

interface ExportedValue {
  value: number;
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  metricName: string;
  /** prom-client's bucket lines carry `exemplar: null` (none kept). */
  exemplar?: null;
}

export class FastHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: readonly L[];
  private readonly bounds: readonly number[];
  private series = new Map<string, FastHistogramChild>();

  constructor(o: FastHistogramOptions<L>) {
    for (let i = 0; i < o.buckets.length; i++) {
      if (!Number.isFinite(o.buckets[i]) || (i > 0 && o.buckets[i]! <= o.buckets[i - 1]!)) throw new RangeError(`${o.name}: buckets must be finite and ascending`);
    }
    if (o.labelNames.includes('le' as L)) throw new RangeError('le is a reserved label name');
    this.name = o.name;
    this.help = o.help;
    this.labelNames = [...o.labelNames];
    this.bounds = [...o.buckets];
    // prom-client's registry takes any metric with name/help/type and get(); its types name only its own classes.
    for (const r of o.registers ?? []) r.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The series of one label set, values in labelNames order (kept: look it up once, observe many times). */
  labels(...values: string[]): FastHistogramChild {
    if (values.length !== this.labelNames.length) throw new RangeError(`${this.name}: expected ${this.labelNames.length} label values, got ${values.length}`);
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      s = new FastHistogramChild(labels, this.bounds);
      this.series.set(key, s);
    }
    return s;
  }

  reset(): void {
    this.series = new Map();
  }

  /** What prom-client's registry prints (the shape of Histogram.getForPromString). */
  getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: ExportedValue[]; aggregator: 'sum' }> {
    const values: ExportedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.bounds[i]! }, value: acc, metricName: bucket, sharedLabels: s.labels, exemplar: null });
      }
      values.push({ labels: { le: '+Inf' }, value: s.count, metricName: bucket, sharedLabels: s.labels, exemplar: null });
      values.push({ labels: {}, value: s.sum, metricName: `${this.name}_sum`, sharedLabels: s.labels });
      values.push({ labels: {}, value: s.count, metricName: `${this.name}_count`, sharedLabels: s.labels });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  /** What prom-client's getMetricsAsJSON returns (labels merged, as Histogram.get). */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; values: ExportedValue[]; aggregator: 'sum' }> {
    const d = await this.getForPromString();
    return { ...d, values: d.values.map(({ sharedLabels, ...v }) => ({ ...v, labels: { ...v.labels, ...sharedLabels } })) };
  }
}
