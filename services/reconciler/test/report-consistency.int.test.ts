/**
 * Consistency of the reconciliation between the materialized tables and the
 * fresh report (GetReconciliation / reconcileJob). Found by a review helper:
 * the fresh report read its facts, settings and chain time one by one (a
 * projector batch in between flagged a completed job missing_completion),
 * and the reconciler did not re-evaluate a job whose device type comes from
 * a device that registered again, so its table and the API disagreed.
 */
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { ChainEvent } from '@hwledger/chain';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { listFlaggedJobs, migrate, Projector, reconcileJob } from '@hwledger/projector';
import { Reconciler } from '@hwledger/reconciler';
import { seedChain, SEED_START_MS } from '../../projector/test/helpers/seed-chain.js';

const nats = useNatsServer();
const db = useTestDatabase({ setup: (pool) => migrate(pool) });

let n = 0;
const env = (tenant: string, instanceId: string) => ({ source: 'sim', eventId: `ev-${n++}`, observedAtMs: SEED_START_MS, tenant, instanceId });
const register = (d: string, type: string): ChainEvent => ({
  ...env('', d),
  kind: 'device_registered',
  data: { device_id: d, hostname: 'h', device_type: type, vram_total_mib: 81_920n },
});
const dispatch = (job: string, d: string, vram: bigint, cost: bigint): ChainEvent => ({
  ...env('acme', job),
  kind: 'job_dispatched',
  data: { job_id: job, device_id: d, model_id: 'm', vram_requested_mib: vram, predicted_cost_micro_usd: cost },
});
const complete = (job: string, vram: bigint, cost: bigint): ChainEvent => ({
  ...env('acme', job),
  kind: 'job_completed',
  data: { job_id: job, tokens_generated: 1000, duration_ms: 60_000n, actual_vram_mib: vram, cost_micro_usd: cost },
});
const metrics = (d: string): ChainEvent => ({
  ...env('', d),
  kind: 'metrics_collected',
  data: { device_id: d, vram_used_mib: 0n, vram_total_mib: 81_920n, utilization_pct: 0, temperature_mc: 60_000, power_mw: 300_000 },
});

async function project(chain: string): Promise<void> {
  const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true }).start();
  await p.done;
  expect(p.state).toBe('caught_up');
}

describe('reconciliation consistency', () => {
  it('GetReconciliation (reconcileJob) never flags missing_completion on a job completed at the chain time it reports', async () => {
    const chain = 'r9-snapshot';
    const first = await seedChain(nats.nc, chain, [register('gpu-a', 'H100'), dispatch('job-1', 'gpu-a', 1_000n, 100n), metrics('gpu-a')]);
    await project(chain);
    await new Reconciler({ pool: db.pool, chainId: chain, settings: { thresholdPct: 10, dispatchTimeoutMs: 3_600_000n } }).runOnce();
    // The projector commits a batch while reconcileJob runs (between its job-facts query and its
    // chain-time query): the job completes 10 minutes after its dispatch, then 2 h of chain time pass.
    let armed = true;
    const race = async (text: unknown): Promise<void> => {
      if (!armed || typeof text !== 'string' || !text.includes('telemetry_max')) return;
      armed = false;
      await seedChain(nats.nc, chain, [complete('job-1', 1_000n, 100n), metrics('gpu-a')], {
        fromSequence: first.head.sequence + 1n,
        prevHash: first.head.hash,
        sealedAtMs: (i) => SEED_START_MS + (i === 0 ? 600_000n : 7_200_000n),
      });
      await project(chain);
    };
    // Every query reconcileJob makes, on the pool or on a client it takes from it, runs the race after its job-facts query.
    const wrapClient = (c: pg.PoolClient): pg.PoolClient =>
      new Proxy(c, {
        get(target, prop, receiver) {
          if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
          return async (text: string, values?: unknown[]) => {
            const res = await target.query(text, values);
            await race(text);
            return res;
          };
        },
      });
    const racing = new Proxy(db.pool, {
      get(target, prop, receiver) {
        if (prop === 'connect') return async () => wrapClient(await target.connect());
        if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
        return async (text: string, values?: unknown[]) => {
          const res = await target.query(text, values);
          await race(text);
          return res;
        };
      },
    }) as pg.Pool;
    const r = await reconcileJob(racing, chain, 'job-1');
    expect(armed).toBe(false);
    // One snapshot: the facts, the settings and the chain time all from before the batch: the job is
    // running at the chain time of its dispatch's batch, not a missing completion 2 h later.
    expect(r.chainTimeMs).toBeLessThan(SEED_START_MS + 600_000n);
    expect(r.flags.map((f) => f.flag)).not.toContain('missing_completion');
    // Asked again, the report sees the completion.
    const again = await reconcileJob(db.pool, chain, 'job-1');
    expect(again.chainTimeMs).toBe(SEED_START_MS + 7_200_000n);
    expect(again.flags.map((f) => f.flag)).not.toContain('missing_completion');
  });

  it('the materialized device type of a flagged job equals the one GetReconciliation reports', async () => {
    const chain = 'r9-devtype';
    // job-x ran on a device that registered only after the job completed (so it was rated with '*').
    const first = await seedChain(nats.nc, chain, [dispatch('job-x', 'gpu-x', 10_000n, 1_000n), complete('job-x', 20_000n, 1_000n), metrics('gpu-x')]);
    await project(chain);
    const settings = { thresholdPct: 10, dispatchTimeoutMs: 3_600_000n };
    const rec = new Reconciler({ pool: db.pool, chainId: chain, settings });
    await rec.runOnce();
    await seedChain(nats.nc, chain, [register('gpu-x', 'H100'), metrics('gpu-x')], {
      fromSequence: first.head.sequence + 1n,
      prevHash: first.head.hash,
      sealedAtMs: (i) => SEED_START_MS + 10_000n + BigInt(i) * 1_000n,
    });
    await project(chain);
    await rec.runOnce();
    const fresh = await reconcileJob(db.pool, chain, 'job-x');
    const listed = (await listFlaggedJobs(db.pool, { chainId: chain })).items.find((j) => j.jobId === 'job-x')!;
    expect(listed.flags.map((f) => f.flag)).toEqual(['vram_variance']);
    // What a full re-evaluation (any settings change or re-rate) materializes:
    await new Reconciler({ pool: db.pool, chainId: chain, settings: { ...settings, thresholdPct: 11 } }).runOnce();
    const afterFull = (await listFlaggedJobs(db.pool, { chainId: chain })).items.find((j) => j.jobId === 'job-x')!;
    expect({ incremental: listed.deviceType, fullReevaluation: afterFull.deviceType, fresh: fresh.deviceType }).toEqual({
      incremental: fresh.deviceType,
      fullReevaluation: fresh.deviceType,
      fresh: fresh.deviceType,
    });
  });
});
