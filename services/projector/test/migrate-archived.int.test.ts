/**
 * Upgrading a database that was migrated to 004, projected, and then
 * archived (`hwledger archive --db` before migration 005/006 existed: its
 * deleteRows tolerates a missing archived_prefixes table and deletes the rows).
 * On a chain idle past the retention the cut is the projector's checkpoint, so
 * its `records` row is gone. Migration 005 backfills
 * projector_checkpoints.sealed_at_ms only by joining `records`: the very
 * databases it was written for (the archived ones) kept NULL, and the chain
 * time still read 0 after the upgrade (stuck jobs lose missing_completion;
 * found in a review). 005 now falls back on the derived rows' chain times.
 */
import { describe, expect, it } from 'vitest';
import type { ChainEvent } from '@hwledger/chain';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { chainStatus, chainTimeMs, loadMigrations, migrate, Projector, reconcileJob, schemaVersion } from '@hwledger/projector';
import { seedChain, SEED_START_MS } from './helpers/seed-chain.js';

const nats = useNatsServer();
const db = useTestDatabase({ prefix: 'hwl_mig_archived', setup: (pool) => migrate(pool) });

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

/** Puts a database migrated by this build back to what migrations 001..004 left (same data). */
async function downgradeTo004(): Promise<void> {
  await db.pool.query('ALTER TABLE projector_checkpoints DROP COLUMN sealed_at_ms');
  await db.pool.query('DROP TABLE archived_prefixes');
  await db.pool.query('DELETE FROM hwl_schema_migrations WHERE version > 4');
  expect(await schemaVersion(db.pool)).toBe(4);
}

describe('upgrade 004 -> 006 of an archived database', () => {
  it('keeps the chain time of a chain archived up to its checkpoint', async () => {
    const chain = 'mig-archived';
    const seeded = await seedChain(nats.nc, chain, [
      register('gpu-a'),
      dispatch('job-stuck', 'gpu-a'),
      ...Array.from({ length: 70 }, () => metrics('gpu-idle')),
    ]);
    const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true }).start();
    await p.done;
    expect(p.state).toBe('caught_up');
    const lastSealed = seeded.sealed[seeded.sealed.length - 1]!.record.sealedAtMs;
    expect(await chainTimeMs(db.pool, chain)).toBe(lastSealed);

    await downgradeTo004();
    // `hwledger archive --db` of that era, cut = the checkpoint (idle chain): no archived_prefixes, the rows deleted.
    const cp = await db.pool.query<{ s: string }>('SELECT sequence::text AS s FROM projector_checkpoints WHERE chain_id = $1', [chain]);
    await db.pool.query('DELETE FROM records WHERE chain_id = $1 AND sequence <= $2', [chain, cp.rows[0]!.s]);

    expect(await migrate(db.pool, loadMigrations())).toEqual([5, 6]);
    // Nothing happened on the chain: its time is still the last record's.
    expect(await chainTimeMs(db.pool, chain)).toBe(lastSealed);
    expect((await chainStatus(db.pool, chain)).verifiedSealedAtMs).toBe(lastSealed);
    const report = await reconcileJob(db.pool, chain, 'job-stuck', { thresholdPct: 10, dispatchTimeoutMs: 60_000n });
    expect(report.flags.map((f) => f.flag)).toContain('missing_completion');
  });
});
