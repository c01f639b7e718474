/**
 * A crafted scenario raises each reconciliation flag on exactly the job made
 * to raise it, and a clean scenario raises none. Flags follow chain time
 * (a missing completion appears when the chain, not the wall clock, passes
 * the timeout) and disappear when a later record resolves them.
 */
import { describe, expect, it } from 'vitest';
import type { ChainEvent } from '@hwledger/chain';
import { runCli, useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { fleetReconciliation, listFlaggedJobs, migrate, Projector, reconcileJob, RECONCILE_FLAGS, rerateRange, setPriceBook } from '@hwledger/projector';
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
const dispatch = (job: string, d: string, vram: bigint, cost: bigint, model = 'llama-3-70b'): ChainEvent => ({
  ...env('acme', job),
  kind: 'job_dispatched',
  data: { job_id: job, device_id: d, model_id: model, vram_requested_mib: vram, predicted_cost_micro_usd: cost },
});
const complete = (job: string, vram: bigint, cost: bigint): ChainEvent => ({
  ...env('acme', job),
  kind: 'job_completed',
  data: { job_id: job, tokens_generated: 1000, duration_ms: 60_000n, actual_vram_mib: vram, cost_micro_usd: cost },
});
const fail = (job: string): ChainEvent => ({ ...env('acme', job), kind: 'job_failed', data: { job_id: job, error_message: 'OOM' } });
const metrics = (d: string, used: bigint): ChainEvent => ({
  ...env('', d),
  kind: 'metrics_collected',
  data: { device_id: d, vram_used_mib: used, vram_total_mib: 81_920n, utilization_pct: 90, temperature_mc: 60_000, power_mw: 300_000 },
});
const filler = (k: number): ChainEvent[] => Array.from({ length: k }, () => metrics('gpu-idle', 0n));

const SETTINGS = { thresholdPct: 10, dispatchTimeoutMs: 60_000n };

async function project(chain: string): Promise<void> {
  const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true }).start();
  await p.done;
  expect(p.state).toBe('caught_up');
}

async function flagsOf(chain: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  let cursor: string | undefined;
  do {
    const page = await listFlaggedJobs(db.pool, { chainId: chain, page: { limit: 2, cursor } });
    for (const j of page.items) out[j.jobId] = j.flags.map((f) => f.flag).sort();
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

describe('reconciler', () => {
  it('raises each flag on the job crafted for it and nothing else', async () => {
    const chain = 'recon-dirty';
    // Records are sealed 1 s apart (seedChain default), so 70 filler records pass the 60 s timeout.
    const first = await seedChain(nats.nc, chain, [
      register('gpu-a', 'H100'),
      register('gpu-b', 'A100'),
      register('gpu-idle', 'L4'),
      dispatch('job-vram', 'gpu-a', 10_000n, 1_000n),
      complete('job-vram', 20_000n, 1_050n), // +100 % VRAM, +5 % cost
      dispatch('job-cost', 'gpu-a', 10_000n, 1_000n),
      complete('job-cost', 10_500n, 5_000n), // +5 % VRAM, +400 % cost
      dispatch('job-telemetry', 'gpu-b', 8_000n, 2_000n),
      metrics('gpu-b', 9_000n), // device used more than the job requested while it ran
      complete('job-telemetry', 8_000n, 2_000n),
      metrics('gpu-b', 50_000n), // after completion: not the job's
      complete('job-orphan-c', 1_000n, 10n),
      fail('job-orphan-f'),
      dispatch('job-dup', 'gpu-a', 1_000n, 100n),
      complete('job-dup', 1_000n, 100n),
      complete('job-dup', 1_000n, 100n),
      dispatch('job-missing', 'gpu-a', 1_000n, 100n),
      dispatch('job-late', 'gpu-a', 1_000n, 100n),
      ...filler(30),
      complete('job-late', 1_000n, 100n), // 31 s of chain time: on time
      ...filler(40),
    ]);
    await project(chain);
    const rec = new Reconciler({ pool: db.pool, chainId: chain, settings: SETTINGS });
    await rec.runOnce();
    expect(await flagsOf(chain)).toEqual({
      'job-vram': ['vram_variance'],
      'job-cost': ['cost_variance'],
      'job-telemetry': ['telemetry_over_request'],
      'job-orphan-c': ['orphan_completion'],
      'job-orphan-f': ['orphan_failure'],
      'job-dup': ['duplicate_terminal'],
      'job-missing': ['missing_completion'],
    });
    const covered = new Set(Object.values(await flagsOf(chain)).flat());
    expect([...covered].sort()).toEqual([...RECONCILE_FLAGS].sort());

    const vram = await reconcileJob(db.pool, chain, 'job-vram');
    expect(vram).toMatchObject({ vramVariancePct: 100, costVariancePct: 5, deviceType: 'H100', telemetryMaxVramMib: null });
    expect((await reconcileJob(db.pool, chain, 'job-telemetry')).telemetryMaxVramMib).toBe(9_000n);
    await expect(reconcileJob(db.pool, chain, 'nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(listFlaggedJobs(db.pool, { chainId: chain, flag: 'bogus' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await listFlaggedJobs(db.pool, { chainId: chain, flag: 'missing_completion' })).items.map((j) => j.jobId)).toEqual(['job-missing']);

    const fleet = await fleetReconciliation(db.pool, { chainId: chain });
    const h100 = fleet.find((r) => r.deviceType === 'H100' && r.modelId === 'llama-3-70b')!;
    // Paired H100 jobs: job-vram, job-cost, job-dup, job-late.
    expect(h100).toMatchObject({
      pairedJobs: 4n,
      predictedVramMib: 22_000n,
      actualVramMib: 32_500n,
      predictedCostMicroUsd: 2_200n,
      actualCostMicroUsd: 6_250n,
    });

    // The missing job completes later: its flag disappears on the next run.
    await seedChain(nats.nc, chain, [complete('job-missing', 1_000n, 100n)], {
      fromSequence: first.head.sequence + 1n,
      prevHash: first.head.hash,
      sealedAtMs: () => SEED_START_MS + 200_000n,
    });
    await project(chain);
    await rec.runOnce();
    expect((await flagsOf(chain))['job-missing']).toBeUndefined();
  });

  it('measures the dispatch timeout on chain time, not the wall clock', async () => {
    const chain = 'recon-chaintime';
    // Sealed in 2026 (long ago by no clock here), but only 10 s of chain time pass after the dispatch.
    await seedChain(nats.nc, chain, [register('gpu-a', 'H100'), dispatch('job-running', 'gpu-a', 1_000n, 100n), ...filler(10)]);
    await project(chain);
    await new Reconciler({ pool: db.pool, chainId: chain, settings: SETTINGS }).runOnce();
    expect(await flagsOf(chain)).toEqual({});
    const r = await reconcileJob(db.pool, chain, 'job-running', { dispatchTimeoutMs: 5_000n });
    expect(r.flags.map((f) => f.flag)).toEqual(['missing_completion']);
  });

  it('follows a re-rate: a price book set after a pass changes the rated cost it reports', async () => {
    const chain = 'recon-rerate';
    await seedChain(nats.nc, chain, [register('gpu-a', 'H100'), dispatch('r1', 'gpu-a', 10_000n, 1_000n), complete('r1', 10_000n, 1_000n), ...filler(5)]);
    await project(chain);
    const rec = new Reconciler({ pool: db.pool, chainId: chain, settings: SETTINGS });
    await rec.runOnce();
    const rated = async (): Promise<string | null> =>
      (
        await db.pool.query<{ c: string | null }>('SELECT rated_cost_micro_usd::text AS c FROM job_reconciliation WHERE chain_id = $1 AND job_id = $2', [
          chain,
          'r1',
        ])
      ).rows[0]!.c;
    const before = await rated();
    // $3.60 per GPU-hour for every device type from the beginning: 60 s of GPU time = 60,000 micro-USD.
    await setPriceBook(db.pool, { effectiveFromMs: 0n, gpuHour: new Map([['*', 3_600_000n]]), tokenPerMtok: new Map([['*', 0n]]) });
    const fleetRated = async (): Promise<bigint> => (await fleetReconciliation(db.pool, { chainId: chain })).reduce((a, r) => a + r.ratedCostMicroUsd, 0n);
    const fleetBefore = await fleetRated();
    await rec.runOnce();
    expect(await rated()).toBe('60000');
    expect(before).not.toBe('60000');
    expect(await fleetRated()).toBe(60_000n);
    expect(fleetBefore).not.toBe(60_000n);

    // A re-rate that changes no job's cost or book version leaves the reconciler where it was.
    const lastSeq = async (): Promise<string> =>
      (await db.pool.query<{ s: string }>('SELECT last_sequence::text AS s FROM reconciler_state WHERE chain_id = $1', [chain])).rows[0]!.s;
    const caughtUp = await lastSeq();
    expect(caughtUp).not.toBe('0');
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      const again = await rerateRange(client, 0n, null);
      await client.query('COMMIT');
      expect(again.jobs).toBeGreaterThanOrEqual(1); // the job was looked at...
    } finally {
      client.release();
    }
    expect(await lastSeq()).toBe(caughtUp); // ...and nothing changed, so no reset
    // A new book that changes the cost resets it (the reconciler then re-evaluates every job).
    await setPriceBook(db.pool, { effectiveFromMs: 0n, gpuHour: new Map([['*', 7_200_000n]]), tokenPerMtok: new Map([['*', 0n]]) });
    expect(await lastSeq()).toBe('0');
    await rec.runOnce();
    expect(await rated()).toBe('120000');
  });

  it('job ids with tab, LF or CR (which the chain accepts) can be looked up and paged through', async () => {
    const chain = 'recon-ctrl-ids';
    const ids = ['j\t1', 'j\n2', 'j\r3', 'j\t4'];
    await seedChain(nats.nc, chain, [
      register('gpu-a', 'H100'),
      ...ids.flatMap((id) => [dispatch(id, 'gpu-a', 10_000n, 1_000n), complete(id, 20_000n, 1_000n)]),
      ...filler(3),
    ]);
    await project(chain);
    await new Reconciler({ pool: db.pool, chainId: chain, settings: SETTINGS }).runOnce();
    // Pages of 2: the cursor of the first page ends on an id with a control character.
    expect(Object.keys(await flagsOf(chain)).sort()).toEqual([...ids].sort());
    for (const id of ids) expect((await reconcileJob(db.pool, chain, id)).flags.map((f) => f.flag)).toContain('vram_variance');
  });

  it('raises no flag on a clean scenario (hwledger reconciler --once)', async () => {
    const chain = 'recon-clean';
    await seedChain(nats.nc, chain, [
      register('gpu-a', 'H100'),
      register('gpu-idle', 'L4'),
      dispatch('c1', 'gpu-a', 10_000n, 1_000n),
      metrics('gpu-a', 9_500n),
      complete('c1', 10_900n, 1_090n), // +9 %: within 10 %
      dispatch('c2', 'gpu-a', 10_000n, 1_000n),
      complete('c2', 9_100n, 910n), // -9 %
      dispatch('c3', 'gpu-a', 4_000n, 1_000n),
      fail('c3'),
      ...filler(100),
    ]);
    await project(chain);
    const r = await runCli(['reconciler', '--chain', chain, '--db', db.db.url, '--once', '--threshold-pct', '10', '--dispatch-timeout-ms', '60000'], {
      env: { HWL_LOG_LEVEL: 'silent' },
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ chain_id: chain, evaluated: 3, flagged: 0 });
    expect(await flagsOf(chain)).toEqual({});
    const rows = await db.pool.query('SELECT job_id, flags, vram_variance_pct::text AS v FROM job_reconciliation WHERE chain_id = $1 ORDER BY job_id', [chain]);
    expect(rows.rows).toEqual([
      { job_id: 'c1', flags: [], v: '9.00' },
      { job_id: 'c2', flags: [], v: '-9.00' },
      { job_id: 'c3', flags: [], v: null },
    ]);
  });
});
