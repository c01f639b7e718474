/**
 * A job whose completion is sealed before its dispatch (the scheduler's node
 * and the worker's node publish in another order) was rated, at the
 * completion, knowing neither its device nor its model: the '*' rates, for
 * good, while the reconciler cleared its orphan flag once the dispatch came.
 * Its first dispatch now rates it again with the dispatch's model and the
 * device's type, and moves the difference into the completion's windows.
 */
import { describe, expect, it } from 'vitest';
import type { ChainEvent } from '@hwledger/chain';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { migrate, Projector, tenantSummary } from '@hwledger/projector';
import { seedChain, SEED_START_MS } from './helpers/seed-chain.js';
import { addBook } from './helpers/books.js';
import { diffTables, dumpTables, readChainRows, recompute, type Book } from './helpers/recompute.js';

const nats = useNatsServer();
const db = useTestDatabase({ setup: (pool) => migrate(pool) });

let n = 0;
const env = (tenant: string, instanceId: string) => ({ source: 'eu/node-1', eventId: `ev-${n++}`, observedAtMs: SEED_START_MS, tenant, instanceId });
const registered: ChainEvent = {
  ...env('', 'gpu-1'),
  kind: 'device_registered',
  data: { device_id: 'gpu-1', hostname: 'n1', device_type: 'H100', vram_total_mib: 81_920n },
} as ChainEvent;
const completed = (job: string): ChainEvent =>
  ({
    ...env('acme', job),
    kind: 'job_completed',
    data: { job_id: job, tokens_generated: 1_000_000, duration_ms: 3_600_000n, actual_vram_mib: 30_000n, cost_micro_usd: 1n },
  }) as ChainEvent;
const dispatched = (job: string): ChainEvent =>
  ({
    ...env('acme', job),
    kind: 'job_dispatched',
    data: { job_id: job, device_id: 'gpu-1', model_id: 'llama', vram_requested_mib: 40_000n, predicted_cost_micro_usd: 4_000_000n },
  }) as ChainEvent;

describe('a completion sealed before its dispatch', () => {
  it.each([
    ['in one batch', 2000],
    ['across batches', 1],
  ])('is rated with the dispatch model and device type once the dispatch comes (%s)', async (_name, batchSize) => {
    const chain = `late-${batchSize}`;
    const books: Book[] = [];
    await db.pool.query('DELETE FROM price_book_rates; DELETE FROM price_books');
    // '*' : 1 USD per GPU hour and 0.5 USD per Mtok; H100 4 USD per hour, llama 0.9 USD per Mtok.
    await addBook(db.pool, 0n, { '*': 1_000_000n, H100: 4_000_000n }, { '*': 500_000n, llama: 900_000n }, books);
    // job-a: completed, then dispatched (late); job-b: in order, for comparison.
    await seedChain(nats.nc, chain, [registered, completed('job-a'), dispatched('job-a'), dispatched('job-b'), completed('job-b')]);
    const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true, batchSize }).start();
    await p.done;
    expect(p.state).toBe('caught_up');
    const jobs = await db.pool.query(
      'SELECT job_id, rated_device_type, rated_model_id, rated_cost_micro_usd::text AS cost FROM jobs WHERE chain_id = $1 ORDER BY job_id',
      [chain],
    );
    expect(jobs.rows).toEqual([
      { job_id: 'job-a', rated_device_type: 'H100', rated_model_id: 'llama', cost: '4900000' },
      { job_id: 'job-b', rated_device_type: 'H100', rated_model_id: 'llama', cost: '4900000' },
    ]);
    const s = await tenantSummary(db.pool, { chainId: chain, tenant: 'acme', fromMs: 0, toMs: SEED_START_MS + 86_400_000n });
    expect(s.jobs).toMatchObject({ completed: 2n, ratedCostMicroUsd: 9_800_000n });
    expect(diffTables(recompute(chain, await readChainRows(nats.nc, chain), books), await dumpTables(db.pool, chain))).toEqual([]);
  });
});
