/**
 * `--rebuild` on a chain that `hwledger archive --db` has cut (found in a review).
 * Archival purges the stream below the cut and deletes the `records` rows up
 * to it, leaving the rollups (the only copy of the archived records' usage in
 * Postgres). rebuildChain wipes every derived table and resets the
 * checkpoint to genesis without looking at where the stream now starts, so
 * the replay finds record cut+1 after genesis: the chain is reported broken
 * (gap) and the billed usage of the archived records is gone from the read
 * models for good. Now the rebuild is refused (FAILED_PRECONDITION) before
 * anything is deleted, and the tenant's bill stays.
 */
import { describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import type { ChainEvent } from '@hwledger/chain';
import { streams } from '@hwledger/core';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { chainStatus, migrate, Projector, rebuildChain, setPriceBook, tenantSummary } from '@hwledger/projector';
import { seedChain, SEED_START_MS } from './helpers/seed-chain.js';

const nats = useNatsServer();
const db = useTestDatabase({ prefix: 'hwl_rebuild_archived', setup: (pool) => migrate(pool) });

let n = 0;
const request = (tenant: string): ChainEvent => ({
  source: 'sim',
  eventId: `rq-${n++}`,
  observedAtMs: SEED_START_MS,
  tenant,
  instanceId: 'i',
  kind: 'inference_request_completed',
  data: { tenant_id: tenant, request_id: `req-${n}`, total_tokens: 1_000_000, compute_ms: 3_600_000n, reason: 'stop' },
});

async function project(chain: string): Promise<Projector> {
  const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true }).start();
  await p.done;
  return p;
}

describe('rebuild after archival', () => {
  it('is refused, and the billed usage of archived records stays', async () => {
    const chain = 'rebuild-archived';
    // $1 per GPU hour, $1 per million tokens: each request costs 2,000,000 micro-USD.
    await setPriceBook(db.pool, { effectiveFromMs: 0n, gpuHour: new Map([['*', 1_000_000n]]), tokenPerMtok: new Map([['*', 1_000_000n]]) });
    await seedChain(
      nats.nc,
      chain,
      Array.from({ length: 10 }, () => request('acme')),
    );
    expect((await project(chain)).state).toBe('caught_up');
    const summary = () => tenantSummary(db.pool, { chainId: chain, tenant: 'acme', fromMs: 0n, toMs: 2n ** 62n });
    const before = await summary();
    expect(before.requests.count).toBe(10n);
    expect(before.totalCostMicroUsd).toBe(20_000_000n);

    // What `hwledger archive --db` does at a cut of 6 (the projector is past it): purge the stream, delete the rows.
    const cut = 6n;
    const jsm = await jetstreamManager(nats.nc);
    await jsm.streams.purge(streams.chain(chain), { seq: Number(cut + 1n) });
    await db.pool.query('DELETE FROM records WHERE chain_id = $1 AND sequence <= $2', [chain, cut.toString()]);
    // Archival leaves the rollups alone: the bill is unchanged.
    expect((await summary()).totalCostMicroUsd).toBe(20_000_000n);

    // The operator runs `hwledger projector --rebuild` (say, after migration 003, as docs/projector.md suggests).
    await expect(rebuildChain(db.pool, chain)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/records 1\.\.6 are no longer in the database/),
    });
    const p = await project(chain);
    const status = await chainStatus(db.pool, chain);
    const after = await summary();
    expect({ state: p.state, status: status.status, reason: status.brokenReason, count: after.requests.count, cost: after.totalCostMicroUsd }).toMatchObject({
      state: 'caught_up',
      status: 'ok',
      count: 10n,
      cost: 20_000_000n,
    });
  });
});
