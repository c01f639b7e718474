/** The simulated fleet: deterministic per seed, valid per the admission policy, realistic mix. */
import { describe, expect, it } from 'vitest';
import { COMPLETION_REASONS, eventToJson, KIND_NAMES, validateEvent, type ChainEvent } from '@hwledger/chain';
import { gpuCostMicroUsd, simulateFleet, simulatedNodeNames } from '@hwledger/agent';
import { duplicates, key } from './helpers.js';

const START = 1_795_000_000_000;
const take = (o: Parameters<typeof simulateFleet>[0]): ChainEvent[] => [...simulateFleet(o)];

describe('simulateFleet', () => {
  const events = take({ source: 'sim-eu/sim', seed: 42, nodes: 3, gpusPerNode: 4, tenants: 5, startMs: START, count: 20_000 });

  it('same seed and start -> the identical sequence, ids and timestamps included', () => {
    const again = take({ source: 'sim-eu/sim', seed: 42, nodes: 3, gpusPerNode: 4, tenants: 5, startMs: START, count: 20_000 });
    expect(again.map((e) => JSON.stringify(eventToJson(e)))).toEqual(events.map((e) => JSON.stringify(eventToJson(e))));
    const other = take({ source: 'sim-eu/sim', seed: 43, nodes: 3, gpusPerNode: 4, tenants: 5, startMs: START, count: 200 });
    expect(other.map((e) => e.eventId)).not.toEqual(events.slice(0, 200).map((e) => e.eventId));
  });

  it('a prefix is the same whatever count asks for (count only truncates)', () => {
    const short = take({ source: 'sim-eu/sim', seed: 42, nodes: 3, gpusPerNode: 4, tenants: 5, startMs: START, count: 1234 });
    expect(short).toHaveLength(1234);
    expect(short.map((e) => e.eventId)).toEqual(events.slice(0, 1234).map((e) => e.eventId));
  });

  it('every event passes the sequencer admission policy; event ids unique per source', () => {
    for (const e of events) validateEvent(e);
    expect(duplicates(events.map(key))).toEqual([]);
    const sources = new Set(events.map((e) => e.source));
    expect([...sources].sort()).toEqual(simulatedNodeNames(3).map((n) => `sim-eu/sim/${n}`));
  });

  it('each GPU registers once, first; observed times never go back per source', () => {
    const regs = events.filter((e) => e.kind === 'device_registered');
    expect(regs).toHaveLength(12);
    expect(events.slice(0, 12).every((e) => e.kind === 'device_registered')).toBe(true);
    expect(new Set(regs.map((e) => e.instanceId)).size).toBe(12);
    const last = new Map<string, bigint>();
    for (const e of events) {
      expect(e.observedAtMs >= (last.get(e.source) ?? 0n)).toBe(true);
      last.set(e.source, e.observedAtMs);
    }
    const metrics = events.filter((e) => e.kind === 'metrics_collected');
    const registered = new Set(regs.map((e) => e.instanceId));
    expect(metrics.every((e) => registered.has(e.instanceId) && e.tenant === '')).toBe(true);
    for (const m of metrics) {
      if (m.kind !== 'metrics_collected') continue;
      expect(m.data.vram_used_mib <= m.data.vram_total_mib).toBe(true);
      expect(m.data.power_mw).toBeGreaterThan(0);
    }
  });

  it('all kinds and all five completion reasons occur, across tenants', () => {
    expect(new Set(events.map((e) => e.kind))).toEqual(new Set(KIND_NAMES));
    const inf = events.filter((e) => e.kind === 'inference_request_completed');
    const reasons = new Map<string, number>();
    for (const e of inf) if (e.kind === 'inference_request_completed') reasons.set(e.data.reason, (reasons.get(e.data.reason) ?? 0) + 1);
    expect(new Set(reasons.keys())).toEqual(new Set(COMPLETION_REASONS));
    expect(reasons.get('end_of_sequence')! / inf.length).toBeGreaterThan(0.6);
    expect(new Set(inf.map((e) => e.tenant)).size).toBe(5);
    expect(inf.every((e) => e.kind === 'inference_request_completed' && e.instanceId === `inference:request_completed:${e.data.request_id}` && e.tenant === e.data.tenant_id)).toBe(true);
  });

  it('jobs: dispatched with predicted VRAM/cost, then completed with actual values or failed; integer micro-USD', () => {
    const dispatched = new Map<string, ChainEvent>();
    let completed = 0;
    let failed = 0;
    for (const e of events) {
      if (e.kind === 'job_dispatched') {
        expect(e.instanceId).toBe(`job:${e.data.job_id}`);
        expect(typeof e.data.predicted_cost_micro_usd).toBe('bigint');
        expect(e.data.predicted_cost_micro_usd).toBeGreaterThan(0n);
        dispatched.set(e.data.job_id, e);
      } else if (e.kind === 'job_completed' || e.kind === 'job_failed') {
        const d = dispatched.get(e.data.job_id);
        expect(d, `job ${e.data.job_id} ends before it was dispatched`).toBeDefined();
        expect(e.tenant).toBe(d!.tenant);
        expect(e.source).toBe(d!.source);
        expect(e.observedAtMs > d!.observedAtMs).toBe(true);
        if (e.kind === 'job_completed' && d!.kind === 'job_dispatched') {
          completed++;
          expect(typeof e.data.cost_micro_usd).toBe('bigint');
          expect(e.data.actual_vram_mib).not.toBe(0n);
          // actual VRAM near the request; cost = duration x the GPU's hourly price
          const ratio = Number(e.data.actual_vram_mib) / Number(d!.data.vram_requested_mib);
          expect(ratio).toBeGreaterThan(0.5);
          expect(ratio).toBeLessThan(1.1);
          expect(e.data.duration_ms).toBe(e.observedAtMs - d!.observedAtMs);
        } else if (e.kind === 'job_failed') {
          failed++;
          expect(e.data.error_message.length).toBeGreaterThan(0);
        }
      }
    }
    expect(completed).toBeGreaterThan(30);
    expect(failed).toBeGreaterThan(0);
    expect(dispatched.size).toBeGreaterThan(completed + failed - 1);
  });

  it('predicted (dispatch) and actual (completion) VRAM and cost differ for some jobs and agree for others; plausible units', () => {
    // The reconciler's rule (services/projector reconcile-rules.ts): a job is flagged when
    // |actual - predicted| / predicted > 10 %. The simulation must produce both kinds of job.
    const beyond = (predicted: bigint, actual: bigint): boolean => (actual > predicted ? actual - predicted : predicted - actual) * 100n > predicted * 10n;
    const devices = new Map<string, { type: string; vramTotalMib: bigint }>();
    const dispatches = new Map<string, { deviceId: string; vramMib: bigint; costMicroUsd: bigint }>();
    const pairs: { type: string; predictedMib: bigint; actualMib: bigint; predictedCost: bigint; actualCost: bigint; durationMs: bigint; vramTotalMib: bigint }[] = [];
    for (const e of events) {
      if (e.kind === 'device_registered') devices.set(e.data.device_id, { type: e.data.device_type, vramTotalMib: e.data.vram_total_mib });
      else if (e.kind === 'job_dispatched') dispatches.set(e.data.job_id, { deviceId: e.data.device_id, vramMib: e.data.vram_requested_mib, costMicroUsd: e.data.predicted_cost_micro_usd });
      else if (e.kind === 'job_completed') {
        const d = dispatches.get(e.data.job_id);
        const dev = d && devices.get(d.deviceId);
        expect(dev, `job ${e.data.job_id}: dispatch and device known before completion`).toBeDefined();
        pairs.push({
          type: dev!.type,
          predictedMib: d!.vramMib,
          actualMib: e.data.actual_vram_mib,
          predictedCost: d!.costMicroUsd,
          actualCost: e.data.cost_micro_usd,
          durationMs: e.data.duration_ms,
          vramTotalMib: dev!.vramTotalMib,
        });
        // units: integers (u64 as bigint, u32 as a safe integer), non-negative
        expect(Number.isSafeInteger(e.data.tokens_generated) && e.data.tokens_generated >= 0).toBe(true);
      }
    }
    expect(pairs.length).toBeGreaterThan(30);
    for (const p of pairs) {
      for (const v of [p.predictedMib, p.actualMib, p.predictedCost, p.actualCost, p.durationMs]) expect(typeof v).toBe('bigint');
      // MiB: a job uses some memory, never more than its GPU has
      expect(p.predictedMib > 0n && p.actualMib > 0n && p.actualMib <= p.vramTotalMib).toBe(true);
      // ms: at least a second; micro-USD: positive
      expect(p.durationMs >= 1_000n && p.predictedCost > 0n && p.actualCost > 0n).toBe(true);
    }
    // The actual cost is billed from the actual duration: every completion on one GPU type
    // implies the same hourly price (to rounding), and a plausible one (0.10 to 10 USD per GPU-hour).
    const rates = new Map<string, number[]>();
    for (const p of pairs) {
      const perHour = (Number(p.actualCost) * 3_600_000) / Number(p.durationMs);
      expect(perHour).toBeGreaterThan(100_000);
      expect(perHour).toBeLessThan(10_000_000);
      rates.set(p.type, [...(rates.get(p.type) ?? []), perHour]);
    }
    for (const [type, rs] of rates) expect(Math.max(...rs) / Math.min(...rs), `hourly price implied by ${type} completions`).toBeLessThan(1.005);
    // The estimates are estimates: both metrics differ beyond the threshold for some jobs and agree within it for others.
    const vramOff = pairs.filter((p) => beyond(p.predictedMib, p.actualMib)).length;
    const costOff = pairs.filter((p) => beyond(p.predictedCost, p.actualCost)).length;
    expect(vramOff, 'jobs whose actual VRAM is off the request by > 10 %').toBeGreaterThan(0);
    expect(vramOff, 'jobs whose actual VRAM is within 10 % of the request').toBeLessThan(pairs.length);
    expect(costOff, 'jobs whose actual cost is off the prediction by > 10 %').toBeGreaterThan(0);
    expect(costOff, 'jobs whose actual cost is within 10 % of the prediction').toBeLessThan(pairs.length);
    expect(pairs.filter((p) => p.actualCost !== p.predictedCost).length, 'actual costs that are not the predicted one').toBeGreaterThan(pairs.length / 2);
  });

  it('costs round half up in integer arithmetic', () => {
    expect(gpuCostMicroUsd(3_600_000n, 2_490_000n)).toBe(2_490_000n);
    expect(gpuCostMicroUsd(1n, 1_800_000n)).toBe(1n); // 0.5 -> 1
    expect(gpuCostMicroUsd(1n, 1_799_999n)).toBe(0n);
  });

  it('eventsPerSecond sets the density of simulated time', () => {
    const dense = take({ source: 'c/sim', seed: 1, nodes: 1, gpusPerNode: 2, startMs: START, eventsPerSecond: 1000, count: 5000 });
    const span = Number(dense.at(-1)!.observedAtMs - dense[0]!.observedAtMs);
    expect(span).toBeGreaterThan(3_000);
    expect(span).toBeLessThan(8_000);
  });

  it('refuses, before any event, a source that is not an agent\'s or simulated sources too long to validate', () => {
    for (const source of ['', 'c/sim/']) expect(() => take({ source, count: 1 })).toThrow(/source must be the publishing agent's source/);
    // 128-char chain and node tokens (valid) and a 128-char prefix: the simulated sources would exceed 256 bytes.
    const long = 'x'.repeat(128);
    expect(() => take({ source: `${long}/${long}`, nodePrefix: long, count: 1 })).toThrow(/exceed 256 bytes/);
    expect(take({ source: `${long}/${'y'.repeat(100)}`, count: 1 })).toHaveLength(1);
  });
});
