/**
 * A price book added while the reconciler's first pass of a chain runs:
 * the re-rate updates the jobs' rated costs and asks the reconciler to
 * re-evaluate every job (reconciler_state.last_sequence = 0). On the first
 * pass that row did not exist yet outside the pass's transaction, so the
 * request matched nothing and the pass, having read the old costs, recorded
 * the head: job_reconciliation kept the old rated cost for good. The race
 * is forced: the book is set right after the pass read the jobs.
 */
import { describe, expect, it } from 'vitest';
import type { ChainEvent } from '@hwledger/chain';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { migrate, Projector, reconcileJob, setPriceBook } from '@hwledger/projector';
import { Reconciler } from '@hwledger/reconciler';
import { seedChain, SEED_START_MS } from '../../projector/test/helpers/seed-chain.js';
import { racingPool } from '../../projector/test/helpers/racing-pool.js';

const nats = useNatsServer();
const db = useTestDatabase({ setup: (pool) => migrate(pool) });

let n = 0;
const env = (instanceId: string) => ({ source: 'sim', eventId: `ev-${n++}`, observedAtMs: SEED_START_MS, tenant: 'acme', instanceId });
const events: ChainEvent[] = [
  {
    ...env('job-1'),
    kind: 'job_dispatched',
    data: { job_id: 'job-1', device_id: 'gpu-1', model_id: 'm', vram_requested_mib: 1_000n, predicted_cost_micro_usd: 1_000_000n },
  },
  {
    ...env('job-1'),
    kind: 'job_completed',
    data: { job_id: 'job-1', tokens_generated: 0, duration_ms: 3_600_000n, actual_vram_mib: 1_000n, cost_micro_usd: 1_000_000n },
  },
] as ChainEvent[];

const book = (gpuHour: bigint) => ({ effectiveFromMs: 0n, note: 'test', gpuHour: new Map([['*', gpuHour]]), tokenPerMtok: new Map([['*', 0n]]) });

describe('reconciler first pass racing a new price book', () => {
  it('re-evaluates the jobs the new book re-rated', async () => {
    await setPriceBook(db.pool, book(1_000_000n));
    await seedChain(nats.nc, 'rr-chain', events);
    await new Projector({ pool: db.pool, nc: nats.nc, chainId: 'rr-chain', exitAtHead: true }).start().done;
    let priced: Promise<unknown> | undefined;
    const pool = racingPool(db.pool, 'j.vram_requested_mib, j.predicted_cost_micro_usd', async () => {
      // A correction at 3 USD per GPU hour, set while the pass has the old rated cost in hand; it may have to wait for the pass.
      priced = setPriceBook(db.pool, book(3_000_000n));
      await Promise.race([priced, new Promise((r) => setTimeout(r, 2_000))]);
    });
    const settings = { thresholdPct: 10, dispatchTimeoutMs: 60_000n };
    await new Reconciler({ pool, chainId: 'rr-chain', settings }).runOnce();
    expect(priced).toBeDefined();
    await priced;
    expect((await reconcileJob(db.pool, 'rr-chain', 'job-1')).ratedCostMicroUsd).toBe(3_000_000n);
    // The next pass brings the stored report up to date.
    await new Reconciler({ pool: db.pool, chainId: 'rr-chain', settings }).runOnce();
    const stored = await db.pool.query("SELECT rated_cost_micro_usd::text AS c FROM job_reconciliation WHERE chain_id = 'rr-chain' AND job_id = 'job-1'");
    expect(stored.rows[0]?.c).toBe('3000000');
  });
});
