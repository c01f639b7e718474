// The seal benchmarks' ingest: a realistic mix of events and the pre-fill
// that stores them on a chain's ingest stream before a measured run (so no
// producer competes for the CPU during it). Shared by seal.bench.mjs and
// ab-sequencer.mjs.
import { headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { recordMsgId, subjects } from '@hwledger/core';
import { encodeIngestBatch } from '@hwledger/proto';

const REASONS = ['end_of_sequence', 'max_tokens_reached', 'engine_error', 'cancelled', 'preempted'];
const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'];

/** A realistic mix: mostly inference completions, some job and telemetry events. */
/** Event i of `chain`, from one of 16 simulated nodes below the publishing node `bench` (the sequencer's source rule). */
export function event(chain, i, now = BigInt(Date.now())) {
  const source = `${chain}/bench/node-${i % 16}`;
  const eventId = `e-${i}`;
  const tenant = TENANTS[i % TENANTS.length];
  if (i % 10 === 9) {
    return { kind: 'metrics_collected', source, eventId, observedAtMs: now, tenant: '', instanceId: `gpu-${i % 8}`, data: { device_id: `gpu-${i % 8}`, vram_used_mib: 40_000n, vram_total_mib: 81_920n, utilization_pct: i % 101, temperature_mc: 61_000, power_mw: 350_000 } };
  }
  if (i % 10 === 8) {
    return { kind: 'job_completed', source, eventId, observedAtMs: now, tenant, instanceId: `job-${i}`, data: { job_id: `job-${i}`, tokens_generated: 512, duration_ms: 1_500n, actual_vram_mib: 39_000n, cost_micro_usd: 1_300n } };
  }
  return {
    kind: 'inference_request_completed',
    source,
    eventId,
    observedAtMs: now,
    tenant,
    instanceId: `inference:request_completed:req-${i}`,
    data: { tenant_id: tenant, request_id: `req-${i}`, total_tokens: 100 + (i % 900), compute_ms: BigInt(10 + (i % 90)), reason: REASONS[i % REASONS.length] },
  };
}

export async function prefill(nc, chain, messages, batch) {
  const js = jetstream(nc);
  const subject = subjects.ingest(chain, 'bench');
  let inflight = [];
  let n = 0;
  for (let m = 0; m < messages; m++) {
    const evs = [];
    for (let k = 0; k < batch; k++) evs.push(event(chain, n++));
    const h = headers();
    h.set('Nats-Msg-Id', batch === 1 ? recordMsgId(evs[0].source, evs[0].eventId) : `b-${chain}-${m}`);
    inflight.push(js.publish(subject, encodeIngestBatch(evs), { headers: h, timeout: 60_000 }));
    if (inflight.length >= 512) {
      await Promise.all(inflight);
      inflight = [];
    }
  }
  await Promise.all(inflight);
}
