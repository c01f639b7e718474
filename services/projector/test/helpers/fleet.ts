/**
 * Deterministic fleet simulator for tests and benches: a mix of every event
 * kind with realistic lifecycles (devices register, jobs are dispatched and
 * complete or fail, telemetry, inference requests of several tenants), plus
 * the awkward cases a read model must survive: orphan completions and
 * failures, duplicate completions, a failure after a completion, jobs on
 * unregistered devices, re-registration with a new type, u64 values above
 * 2^63, an empty tenant.
 */
import { COMPLETION_REASONS, type ChainEvent } from '@hwledger/chain';

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const DEVICE_TYPES = ['H100', 'A100', 'L4', 'MI300X'];
export const MODELS = ['llama-3-70b', 'mistral-7b', 'qwen-32b'];
export const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];

export interface FleetOptions {
  seed?: number;
  devices?: number;
  startMs?: bigint;
}

export function simulateEvents(n: number, opts: FleetOptions = {}): ChainEvent[] {
  const rnd = mulberry32(opts.seed ?? 42);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const startMs = opts.startMs ?? 1_795_000_000_000n;
  const nDevices = opts.devices ?? 40;
  const out: ChainEvent[] = [];
  const devices: string[] = [];
  const running: { jobId: string; device: string; vram: number }[] = [];
  const finished: string[] = [];
  let jobNo = 0;
  let reqNo = 0;
  const env = (i: number, tenant: string, instanceId: string) => ({
    source: `node-${i % 7}`,
    eventId: `e-${i}`,
    observedAtMs: startMs + BigInt(i) * 1000n - BigInt(int(0, 500)),
    tenant,
    instanceId,
  });
  for (let i = 0; out.length < n; i++) {
    if (devices.length < nDevices && (devices.length < 5 || rnd() < 0.02)) {
      const id = `gpu-${devices.length}`;
      devices.push(id);
      out.push({
        ...env(i, '', id),
        kind: 'device_registered',
        data: { device_id: id, hostname: `host-${devices.length % 9}`, device_type: pick(DEVICE_TYPES), vram_total_mib: 81_920n },
      });
      continue;
    }
    const r = rnd();
    if (r < 0.35) {
      const tenant = pick(TENANTS);
      const id = `req-${reqNo++}`;
      out.push({
        ...env(i, tenant, `inference:request_completed:${id}`),
        kind: 'inference_request_completed',
        data: { tenant_id: tenant, request_id: id, total_tokens: int(1, 4000), compute_ms: BigInt(int(5, 30_000)), reason: pick(COMPLETION_REASONS) },
      });
    } else if (r < 0.6) {
      const d = pick(devices);
      const huge = rnd() < 0.001;
      out.push({
        ...env(i, '', d),
        kind: 'metrics_collected',
        data: {
          device_id: d,
          vram_used_mib: huge ? 2n ** 63n + BigInt(int(0, 1000)) : BigInt(int(0, 81_920)),
          vram_total_mib: 81_920n,
          utilization_pct: int(0, 100),
          temperature_mc: int(-5_000, 95_000),
          power_mw: int(50_000, 700_000),
        },
      });
    } else if (r < 0.76 || running.length === 0) {
      const jobId = `job-${jobNo++}`;
      const device = rnd() < 0.01 ? `gpu-unregistered-${int(0, 3)}` : pick(devices);
      const vram = int(1_000, 80_000);
      running.push({ jobId, device, vram });
      out.push({
        ...env(i, rnd() < 0.05 ? '' : pick(TENANTS), jobId),
        kind: 'job_dispatched',
        data: {
          job_id: jobId,
          device_id: device,
          model_id: pick(MODELS),
          vram_requested_mib: BigInt(vram),
          predicted_cost_micro_usd: BigInt(int(100, 5_000_000)),
        },
      });
    } else if (r < 0.95) {
      const k = int(0, running.length - 1);
      const job = running[k]!;
      running.splice(k, 1);
      finished.push(job.jobId);
      const big = rnd() < 0.001;
      out.push({
        ...env(i, pick(TENANTS), job.jobId),
        kind: 'job_completed',
        data: {
          job_id: job.jobId,
          tokens_generated: int(0, 100_000),
          duration_ms: BigInt(int(10, 3_600_000)),
          actual_vram_mib: BigInt(Math.max(0, job.vram + int(-5_000, 5_000))),
          cost_micro_usd: big ? 2n ** 64n - 1n : BigInt(int(0, 6_000_000)),
        },
      });
    } else if (r < 0.985) {
      const k = int(0, running.length - 1);
      const job = running[k]!;
      running.splice(k, 1);
      finished.push(job.jobId);
      out.push({
        ...env(i, pick(TENANTS), job.jobId),
        kind: 'job_failed',
        data: { job_id: job.jobId, error_message: pick(['OOM', 'engine crashed', 'preempted by operator', 'timeout']) },
      });
    } else {
      // The awkward cases.
      const c = int(0, 4);
      if (c === 0) {
        const jobId = `orphan-${i}`;
        out.push({
          ...env(i, pick(TENANTS), jobId),
          kind: 'job_completed',
          data: { job_id: jobId, tokens_generated: int(0, 9000), duration_ms: BigInt(int(10, 100_000)), actual_vram_mib: 1000n, cost_micro_usd: 77n },
        });
      } else if (c === 1) {
        const jobId = `orphan-${i}`;
        out.push({ ...env(i, pick(TENANTS), jobId), kind: 'job_failed', data: { job_id: jobId, error_message: 'lost' } });
      } else if (c === 2 && finished.length > 0) {
        const jobId = pick(finished);
        out.push({
          ...env(i, pick(TENANTS), jobId),
          kind: 'job_completed',
          data: { job_id: jobId, tokens_generated: 5, duration_ms: 5n, actual_vram_mib: 5n, cost_micro_usd: 5n },
        });
      } else if (c === 3 && finished.length > 0) {
        const jobId = pick(finished);
        out.push({ ...env(i, pick(TENANTS), jobId), kind: 'job_failed', data: { job_id: jobId, error_message: 'late failure' } });
      } else {
        const d = pick(devices);
        out.push({
          ...env(i, '', d),
          kind: 'device_registered',
          data: { device_id: d, hostname: 'rebuilt', device_type: pick(DEVICE_TYPES), vram_total_mib: 2n ** 64n - 1n },
        });
      }
    }
  }
  return out;
}
