/**
 * The crafted fleet the API tests query: two tenants (47, 52), three
 * devices, jobs that complete cleanly, with variance, never, or without a
 * dispatch, inference requests with several completion reasons, and 25
 * dispatches on gpu-3 to page through. Projected by the real projector under
 * a price book, reconciled by the real reconciler.
 *
 * Price book (effective from 0): GPU hour '*' 3,600,000 µUSD (1 µUSD/ms),
 * H100 7,200,000 µUSD; tokens '*' 1,000,000 µUSD per million (1 µUSD/token).
 */
import type { ChainEvent } from '@hwledger/chain';

/** Day- and hour-aligned chain time of the first record. */
export const T0 = 1_794_960_000_000n;
export const HOUR = 3_600_000n;
export const PAGED_JOBS = 25;

let n = 0;
function env(tenant: string, instanceId: string): { source: string; eventId: string; observedAtMs: bigint; tenant: string; instanceId: string } {
  n++;
  return { source: 'test/node-1', eventId: `e-${n}`, observedAtMs: T0 + BigInt(n), tenant, instanceId };
}

export function scenarioEvents(): ChainEvent[] {
  n = 0;
  const ev: ChainEvent[] = [
    { ...env('', 'gpu-1'), kind: 'device_registered', data: { device_id: 'gpu-1', hostname: 'h1', device_type: 'H100', vram_total_mib: 81_920n } },
    { ...env('', 'gpu-2'), kind: 'device_registered', data: { device_id: 'gpu-2', hostname: 'h2', device_type: 'A100', vram_total_mib: 40_960n } },
    { ...env('', 'gpu-3'), kind: 'device_registered', data: { device_id: 'gpu-3', hostname: 'h3', device_type: 'L4', vram_total_mib: 24_576n } },
    // job-a (47): clean, within 10 %.
    { ...env('47', 'job-a'), kind: 'job_dispatched', data: { job_id: 'job-a', device_id: 'gpu-1', model_id: 'm7b', vram_requested_mib: 10_000n, predicted_cost_micro_usd: 1_000_000n } },
    { ...env('', 'gpu-1'), kind: 'metrics_collected', data: { device_id: 'gpu-1', vram_used_mib: 9_000n, vram_total_mib: 81_920n, utilization_pct: 90, temperature_mc: 65_000, power_mw: 500_000 } },
    { ...env('47', 'job-a'), kind: 'job_completed', data: { job_id: 'job-a', tokens_generated: 500, duration_ms: 60_000n, actual_vram_mib: 10_500n, cost_micro_usd: 1_050_000n } },
    // job-b (52): VRAM and cost variance, telemetry above the request.
    { ...env('52', 'job-b'), kind: 'job_dispatched', data: { job_id: 'job-b', device_id: 'gpu-2', model_id: 'm70b', vram_requested_mib: 20_000n, predicted_cost_micro_usd: 2_000_000n } },
    { ...env('', 'gpu-2'), kind: 'metrics_collected', data: { device_id: 'gpu-2', vram_used_mib: 25_000n, vram_total_mib: 40_960n, utilization_pct: 99, temperature_mc: 80_000, power_mw: 400_000 } },
    { ...env('52', 'job-b'), kind: 'job_completed', data: { job_id: 'job-b', tokens_generated: 1_000, duration_ms: 30_000n, actual_vram_mib: 30_000n, cost_micro_usd: 3_000_000n } },
    // job-orphan (52): a completion without a dispatch; job-d (47): a failure without one.
    { ...env('52', 'job-orphan'), kind: 'job_completed', data: { job_id: 'job-orphan', tokens_generated: 10, duration_ms: 10_000n, actual_vram_mib: 1_000n, cost_micro_usd: 10_000n } },
    { ...env('47', 'job-d'), kind: 'job_failed', data: { job_id: 'job-d', error_message: 'OOM' } },
    // Inference requests.
    { ...env('47', 'req-1'), kind: 'inference_request_completed', data: { tenant_id: '47', request_id: 'req-1', total_tokens: 100, compute_ms: 2_000n, reason: 'end_of_sequence' } },
    { ...env('47', 'req-2'), kind: 'inference_request_completed', data: { tenant_id: '47', request_id: 'req-2', total_tokens: 50, compute_ms: 1_000n, reason: 'max_tokens_reached' } },
    { ...env('52', 'req-3'), kind: 'inference_request_completed', data: { tenant_id: '52', request_id: 'req-3', total_tokens: 70, compute_ms: 700n, reason: 'cancelled' } },
    // job-c (47): dispatched, never finishes.
    { ...env('47', 'job-c'), kind: 'job_dispatched', data: { job_id: 'job-c', device_id: 'gpu-1', model_id: 'm7b', vram_requested_mib: 8_000n, predicted_cost_micro_usd: 500_000n } },
  ];
  for (let i = 0; i < PAGED_JOBS; i++) {
    const id = `job-p-${String(i).padStart(2, '0')}`;
    ev.push({ ...env('47', id), kind: 'job_dispatched', data: { job_id: id, device_id: 'gpu-3', model_id: 'm1b', vram_requested_mib: 1_000n, predicted_cost_micro_usd: 1_000n } });
  }
  // Two hours later (chain time): job-c is past the 1 h dispatch timeout.
  ev.push({ ...env('47', 'req-late'), kind: 'inference_request_completed', data: { tenant_id: '47', request_id: 'req-late', total_tokens: 1, compute_ms: 1n, reason: 'preempted' } });
  return ev;
}

/** Chain time of record i: one second apart, the last one two hours after T0. */
export function scenarioSealedAt(count: number): (i: number) => bigint {
  return (i) => (i === count - 1 ? T0 + 2n * HOUR : T0 + BigInt(i) * 1_000n);
}
