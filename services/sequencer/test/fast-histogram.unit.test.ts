/** FastHistogram exposes exactly what prom-client's Histogram exposes for the same observations. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { FastHistogram, sequencerMetrics } from '@hwledger/sequencer';

const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const opts = (registry: Registry) => ({ name: 'x_latency_seconds', help: 'latency "quoted" \\ help', labelNames: ['chain'] as const, buckets: BUCKETS, registers: [registry] });

describe('FastHistogram', () => {
  it('prints and reports the same as prom-client Histogram (text and JSON), for any observations', async () => {
    const value = fc.oneof(fc.double({ min: 0, max: 100, noNaN: true }), fc.constantFrom(...BUCKETS), fc.constant(0), fc.double({ min: 60, max: 1e6, noNaN: true }));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c"d', 'e\\f'), value), { maxLength: 200 }), async (obs) => {
        const ra = new Registry();
        const rb = new Registry();
        const ref = new Histogram(opts(ra));
        const fast = new FastHistogram(opts(rb));
        for (const [chain, v] of obs) {
          ref.labels(chain).observe(v);
          fast.labels(chain).observe(v);
        }
        expect(await rb.metrics()).toBe(await ra.metrics());
        expect(await rb.getMetricsAsJSON()).toEqual(await ra.getMetricsAsJSON());
      }),
      { numRuns: 200 },
    );
  });

  it('keeps a child per label set; reset() forgets every series, as prom-client', async () => {
    const r = new Registry();
    const h = new FastHistogram(opts(r));
    expect(h.labels('a')).toBe(h.labels('a'));
    h.labels('a').observe(0.002);
    expect(await r.metrics()).toMatch(/x_latency_seconds_bucket\{le="0.005",chain="a"\} 1/);
    expect(await r.metrics()).toMatch(/x_latency_seconds_count\{chain="a"\} 1/);
    r.resetMetrics();
    expect(await r.metrics()).not.toMatch(/chain="a"/);
  });

  it('refuses what prom-client refuses: non-finite values, wrong label count, le as a label, unordered buckets, a second metric of the same name', () => {
    const r = new Registry();
    const h = new FastHistogram(opts(r));
    for (const v of [NaN, Infinity, -Infinity]) expect(() => h.labels('a').observe(v)).toThrow(TypeError);
    expect(h.labels('a').count).toBe(0);
    expect(() => h.labels()).toThrow(RangeError);
    expect(() => h.labels('a', 'b')).toThrow(RangeError);
    expect(() => new FastHistogram({ ...opts(new Registry()), labelNames: ['le'] })).toThrow(RangeError);
    expect(() => new FastHistogram({ ...opts(new Registry()), buckets: [1, 0.5] })).toThrow(RangeError);
    expect(() => new FastHistogram({ ...opts(new Registry()), buckets: [0.5, Infinity] })).toThrow(RangeError);
    expect(() => new Histogram(opts(r))).toThrow(/already been registered/);
  });

  it('is what the sequencer registers as hwl_seal_latency_seconds (once per registry)', async () => {
    const r = new Registry();
    const m = sequencerMetrics(r);
    expect(m.sealLatency).toBeInstanceOf(FastHistogram);
    expect(sequencerMetrics(r).sealLatency).toBe(m.sealLatency);
    m.sealLatency.labels('c1').observe(0.02);
    const text = await r.metrics();
    expect(text).toMatch(/# TYPE hwl_seal_latency_seconds histogram/);
    expect(text).toMatch(/hwl_seal_latency_seconds_bucket\{le="0.025",chain="c1"\} 1/);
    expect(text).toMatch(/hwl_seal_latency_seconds_sum\{chain="c1"\} 0.02/);
  });
});
