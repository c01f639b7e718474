/**
 * Values the sequencer admits (validateEvent: free text such as device_type
 * up to 4096 UTF-8 bytes) must not stop the reconciler: every run is one
 * transaction for the whole chain, so one row it cannot write blocks the
 * reconciliation of every job of the chain.
 */
import { describe, expect, it } from 'vitest';
import { validateEvent, type ChainEvent } from '@hwledger/chain';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { fleetReconciliation, listFlaggedJobs, migrate, Projector } from '@hwledger/projector';
import { Reconciler } from '@hwledger/reconciler';
import { seedChain, SEED_START_MS } from '../../projector/test/helpers/seed-chain.js';

const nats = useNatsServer();
const db = useTestDatabase({ setup: (pool) => migrate(pool) });

let n = 0;
const env = (tenant: string, instanceId: string) => ({ source: 'sim', eventId: `ev-${n++}`, observedAtMs: SEED_START_MS, tenant, instanceId });

/** A device type the sequencer accepts (<= 4096 bytes, no control characters) that does not compress. */
function incompressibleText(bytes: number): string {
  let seed = 12345;
  let s = '';
  // CJK ideographs: 3 UTF-8 bytes each, pseudo-random so pglz cannot shrink them.
  while (Buffer.byteLength(s, 'utf8') + 3 <= bytes) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    s += String.fromCodePoint(0x4e00 + (seed % 20000));
  }
  return s;
}

describe('reconciler with hostile but admitted values', () => {
  it('reconciles a job on a device whose device_type is 4 KiB of text', async () => {
    const chain = 'recon-long-type';
    const longType = incompressibleText(4096);
    const events: ChainEvent[] = [
      {
        ...env('', 'gpu-x'),
        kind: 'device_registered',
        data: { device_id: 'gpu-x', hostname: 'h', device_type: longType, vram_total_mib: 81_920n },
      },
      {
        ...env('acme', 'job-x'),
        kind: 'job_dispatched',
        data: { job_id: 'job-x', device_id: 'gpu-x', model_id: 'm', vram_requested_mib: 10_000n, predicted_cost_micro_usd: 1_000n },
      },
      {
        ...env('acme', 'job-x'),
        kind: 'job_completed',
        data: { job_id: 'job-x', tokens_generated: 10, duration_ms: 1_000n, actual_vram_mib: 20_000n, cost_micro_usd: 1_000n },
      },
    ];
    for (const e of events) validateEvent(e); // the sequencer would seal every one of them
    await seedChain(nats.nc, chain, events);
    const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true }).start();
    await p.done;
    expect(p.state).toBe('caught_up');

    const rec = new Reconciler({ pool: db.pool, chainId: chain, settings: { thresholdPct: 10, dispatchTimeoutMs: 60_000n } });
    await rec.runOnce();
    const flagged = await listFlaggedJobs(db.pool, { chainId: chain });
    expect(flagged.items.map((j) => [j.jobId, j.flags.map((f) => f.flag)])).toEqual([['job-x', ['vram_variance']]]);
    const fleet = await fleetReconciliation(db.pool, { chainId: chain });
    expect(fleet).toHaveLength(1);
    expect(fleet[0]).toMatchObject({ deviceType: longType, modelId: 'm', pairedJobs: 1n, actualVramMib: 20_000n });
  });
});
