/**
 * A database outage mid-run: the shared Postgres server cannot be restarted
 * from a test, so the outage is simulated by terminating every backend
 * connection of the projector's database (pg_terminate_backend, SQLSTATE
 * 57P01, what a server restart does to clients) repeatedly while the
 * projector works and new records keep arriving. It retries from its
 * checkpoint and catches up; the read models equal the recomputation.
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { Registry } from 'prom-client';
import { ADMIN_PG_URL, useNatsServer, useTestDatabase, waitFor } from '@hwledger/testkit';
import { migrate, Projector } from '@hwledger/projector';
import { seedChain } from './helpers/seed-chain.js';
import { simulateEvents } from './helpers/fleet.js';
import { diffTables, dumpTables, readChainRows, recompute } from './helpers/recompute.js';

const N = Number(process.env['HWL_TEST_SCALE'] ?? '1') * 20_000;
const CHAIN = 'proj-outage';

const nats = useNatsServer();
const db = useTestDatabase({ setup: (pool) => migrate(pool) });

describe('projector during database outages', () => {
  it('retries after its connections are terminated and catches up exactly', async () => {
    const events = simulateEvents(N, { seed: 5 });
    const half = N / 2;
    const first = await seedChain(nats.nc, CHAIN, events.slice(0, half));
    const registry = new Registry();
    const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: CHAIN, batchSize: 500, registry, retryInitialMs: 20, retryMaxMs: 200 }).start();

    const admin = new pg.Client({ connectionString: ADMIN_PG_URL });
    await admin.connect();
    let kills = 0;
    let killed = 0;
    // 15 outages at random 100-700 ms intervals (a fixed fast rate would starve a slow CI box).
    const chaos = (async () => {
      for (; kills < 15; kills++) {
        await new Promise((res) => setTimeout(res, 100 + Math.floor(Math.random() * 600)));
        const r = await admin.query('SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [
          db.db.name,
        ]);
        killed += Number(r.rows[0]?.n ?? 0);
      }
    })();
    // More records arrive during the outages.
    await seedChain(nats.nc, CHAIN, events.slice(half), {
      fromSequence: BigInt(half) + 1n,
      prevHash: first.head.hash,
      sealedAtMs: (i) => 1_795_000_000_000n + BigInt(half + i) * 1_000n,
    });
    await chaos;
    await admin.end();
    await waitFor(() => p.checkpoint.sequence === BigInt(N), 60_000, 50, 'catch-up');
    await p.stop();

    const retries = (await registry.getSingleMetric('hwl_projector_retries_total')?.get())?.values[0]?.value ?? 0;
    expect(killed).toBeGreaterThan(0);
    expect(retries).toBeGreaterThan(0);
    const rows = await readChainRows(nats.nc, CHAIN);
    expect(diffTables(recompute(CHAIN, rows), await dumpTables(db.pool, CHAIN))).toEqual([]);
  });
});
