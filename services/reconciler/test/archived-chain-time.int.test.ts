/**
 * Chain time after archival. `hwledger archive --db` deletes the
 * `records` rows up to its cut (ledger-ops archive.ts deleteRows); on a chain
 * that stayed idle past the retention, the cut is the projector's checkpoint.
 * The reconciler's chain time (chainTimeMs) is read by joining the checkpoint
 * to its `records` row, so it becomes 0: every running job is re-evaluated at
 * chain time 0 and its missing_completion flag disappeared (found in a
 * review). The checkpoint now keeps its record's sealed_at_ms (migration 005).
 */
import { describe, expect, it } from 'vitest';
import type { ChainEvent } from '@hwledger/chain';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { chainStatus, listFlaggedJobs, migrate, Projector, reconcileJob } from '@hwledger/projector';
import { Reconciler } from '@hwledger/reconciler';
import { seedChain, SEED_START_MS } from '../../projector/test/helpers/seed-chain.js';

const nats = useNatsServer();
const db = useTestDatabase({ prefix: 'hwl_recon_archived', setup: (pool) => migrate(pool) });

let n = 0;
const env = (tenant: string, instanceId: string) => ({ source: 'sim', eventId: `ev-${n++}`, observedAtMs: SEED_START_MS, tenant, instanceId });
const register = (d: string): ChainEvent => ({
  ...env('', d),
  kind: 'device_registered',
  data: { device_id: d, hostname: 'h', device_type: 'H100', vram_total_mib: 81_920n },
});
const dispatch = (job: string, d: string): ChainEvent => ({
  ...env('acme', job),
  kind: 'job_dispatched',
  data: { job_id: job, device_id: d, model_id: 'm', vram_requested_mib: 1_000n, predicted_cost_micro_usd: 100n },
});
const metrics = (d: string): ChainEvent => ({
  ...env('', d),
  kind: 'metrics_collected',
  data: { device_id: d, vram_used_mib: 0n, vram_total_mib: 81_920n, utilization_pct: 0, temperature_mc: 40_000, power_mw: 100_000 },
});

const SETTINGS = { thresholdPct: 10, dispatchTimeoutMs: 60_000n };

describe('reconciler after archival of the records up to the checkpoint', () => {
  it('keeps a stuck job flagged missing_completion', async () => {
    const chain = 'archived';
    // 1 s apart: the 70 idle metrics put the chain 70 s past the dispatch (timeout 60 s).
    await seedChain(nats.nc, chain, [register('gpu-a'), dispatch('job-stuck', 'gpu-a'), ...Array.from({ length: 70 }, () => metrics('gpu-idle'))]);
    const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true }).start();
    await p.done;
    expect(p.state).toBe('caught_up');
    const rec = new Reconciler({ pool: db.pool, chainId: chain, settings: SETTINGS });
    await rec.runOnce();
    const flagged = async (): Promise<string[]> => (await listFlaggedJobs(db.pool, { chainId: chain, flag: 'missing_completion' })).items.map((j) => j.jobId);
    expect(await flagged()).toEqual(['job-stuck']);

    // What `hwledger archive --db` does once the cut reaches the projector's checkpoint (idle chain).
    const cp = await db.pool.query<{ s: string }>('SELECT sequence::text AS s FROM projector_checkpoints WHERE chain_id = $1', [chain]);
    await db.pool.query('DELETE FROM records WHERE ctid IN (SELECT ctid FROM records WHERE chain_id = $1 AND sequence <= $2 LIMIT 10000)', [
      chain,
      cp.rows[0]!.s,
    ]);

    // Nothing happened on the chain: the job is exactly as stuck as before.
    const run = await rec.runOnce();
    expect(await flagged()).toEqual(['job-stuck']);
    expect(run.chainTimeMs).toBeGreaterThan(0n);
    const report = await reconcileJob(db.pool, chain, 'job-stuck');
    expect(report.flags.map((f) => f.flag)).toContain('missing_completion');
    // The chain status's verified time too (the API's projected_sealed_at_ms).
    expect((await chainStatus(db.pool, chain)).verifiedSealedAtMs).toBe(run.chainTimeMs);
  });
});
