/**
 * Deterministic test chains: N sealed records cycling through every kind,
 * with the genesis anchor, for the verification tests.
 */
import { genesisHash, sealEvent, type ChainEvent, type ChainRecord, type VerifyInput } from '@hwledger/chain';

export interface BuiltRecord {
  record: ChainRecord;
  canonical: Uint8Array;
  prevHash: Uint8Array;
  hash: Uint8Array;
}

const BASE_MS = 1_763_800_000_000n;

/** The i-th test event (i >= 1): every kind in turn, multi-byte text now and then. */
export function testEvent(i: number): ChainEvent {
  const n = BigInt(i);
  const envelope = { source: `eu-west-1/node-${i % 7}`, eventId: `ev-${i}`, observedAtMs: BASE_MS + n * 1000n };
  switch (i % 6) {
    case 0:
      return {
        ...envelope,
        kind: 'device_registered',
        tenant: '',
        instanceId: `GPU-${i}`,
        data: { device_id: `GPU-${i}`, hostname: `node-${i}`, device_type: 'NVIDIA H100 80GB HBM3', vram_total_mib: 81559n },
      };
    case 1:
      return {
        ...envelope,
        kind: 'job_dispatched',
        tenant: 'acme',
        instanceId: `job:${i}`,
        data: { job_id: `job-${i}`, device_id: 'GPU-1', model_id: 'mistral-7b', vram_requested_mib: 16384n, predicted_cost_micro_usd: 1_250_000n + n },
      };
    case 2:
      return {
        ...envelope,
        kind: 'job_completed',
        tenant: 'acme',
        instanceId: `job:${i}`,
        data: { job_id: `job-${i}`, tokens_generated: i * 13, duration_ms: 93_000n, actual_vram_mib: 17_012n, cost_micro_usd: 2n ** 60n + n },
      };
    case 3:
      return {
        ...envelope,
        kind: 'job_failed',
        tenant: 'globex',
        instanceId: `job:${i}`,
        data: { job_id: `job-${i}`, error_message: `CUDA OOM — ménage à trois ✓ 🚀 #${i}` },
      };
    case 4:
      return {
        ...envelope,
        kind: 'metrics_collected',
        tenant: '',
        instanceId: 'GPU-1',
        data: { device_id: 'GPU-1', vram_used_mib: n, vram_total_mib: 81559n, utilization_pct: i % 101, temperature_mc: -5250 + i, power_mw: 612_340 },
      };
    default:
      return {
        ...envelope,
        kind: 'inference_request_completed',
        tenant: '47',
        instanceId: `inference:request_completed:req-${i}`,
        data: { tenant_id: '47', request_id: `req-${i}`, total_tokens: 812 + i, compute_ms: 9_007_199_254_740_993n + n, reason: 'max_tokens_reached' },
      };
  }
}

/** Records `from..from+count-1` of chain `chainId`, starting from `prevHash` (genesis by default). */
export function buildChain(count: number, chainId = 'test-chain', from = 1, prevHash: Uint8Array = genesisHash(chainId)): BuiltRecord[] {
  const out: BuiltRecord[] = [];
  let prev = prevHash;
  for (let i = from; i < from + count; i++) {
    const s = sealEvent(testEvent(i), { chainId, sequence: BigInt(i), sealedAtMs: BASE_MS + BigInt(i) * 1000n + 7n }, prev);
    out.push(s);
    prev = s.hash;
  }
  return out;
}

/** Export-style verifier input: canonical bytes plus every claim an export line carries. */
export function exportInput(r: BuiltRecord): VerifyInput {
  return { canonical: r.canonical, hash: r.hash, prevHash: r.prevHash, sequence: r.record.sequence, chainId: r.record.chainId };
}
