/**
 * Versioned migrations: concurrent starts apply each migration once; a
 * database newer than the build is refused. --rebuild replays from genesis
 * into fresh tables and yields the same read models, and in a database with
 * several chains it leaves the other chains alone.
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, runCli, useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { loadMigrations, migrate, Projector, rebuildChain, schemaVersion } from '@hwledger/projector';
import { seedChain } from './helpers/seed-chain.js';
import { simulateEvents } from './helpers/fleet.js';
import { diffTables, dumpTables } from './helpers/recompute.js';

const nats = useNatsServer();
const db = useTestDatabase({ max: 8 });

describe('schema migrations', () => {
  it('applies each migration exactly once under concurrent starts', async () => {
    expect(await schemaVersion(db.pool)).toBe(0);
    const results = await Promise.all([migrate(db.pool), migrate(db.pool), migrate(db.pool), migrate(db.pool)]);
    const all = loadMigrations().map((m) => m.version);
    expect(results.flat().sort()).toEqual(all);
    expect(await schemaVersion(db.pool)).toBe(all.length);
    const rows = await db.pool.query('SELECT version FROM hwl_schema_migrations ORDER BY version');
    expect(rows.rows.map((r) => r.version)).toEqual(all);
    expect(await migrate(db.pool)).toEqual([]);
  });

  it('refuses a database migrated by a newer build', async () => {
    const other = await createTestDatabase();
    const p = new pg.Pool({ connectionString: other.url }).on('error', () => undefined); // idle clients can die (other tests on the shared server)
    try {
      await migrate(p);
      await p.query("INSERT INTO hwl_schema_migrations (version, name) VALUES (999, 'future')");
      await expect(migrate(p)).rejects.toMatchObject({ code: 'CONFIG' });
    } finally {
      await p.end();
      await other.drop();
    }
  });
});

describe('--rebuild', () => {
  it('replays from genesis into fresh tables with the same result, sparing other chains', async () => {
    await migrate(db.pool);
    await seedChain(nats.nc, 'rb-a', simulateEvents(3_000, { seed: 21 }));
    await seedChain(nats.nc, 'rb-b', simulateEvents(1_000, { seed: 22 }));
    for (const chain of ['rb-a', 'rb-b']) await new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true }).start().done;
    const a = await dumpTables(db.pool, 'rb-a');
    const b = await dumpTables(db.pool, 'rb-b');

    const r = await runCli(['projector', '--nats', nats.url, '--chain', 'rb-a', '--db', db.db.url, '--rebuild', '--once'], {
      env: { HWL_LOG_LEVEL: 'silent' },
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ state: 'caught_up', sequence: '3000' });
    expect(diffTables(a, await dumpTables(db.pool, 'rb-a'))).toEqual([]);
    expect(diffTables(b, await dumpTables(db.pool, 'rb-b'))).toEqual([]);

    // Rebuilding alone leaves the chain empty at genesis until projected again.
    expect(await rebuildChain(db.pool, 'rb-b')).toEqual({ mode: 'delete' });
    const left = await db.pool.query("SELECT count(*)::int AS n FROM records WHERE chain_id = 'rb-b'");
    expect(left.rows[0].n).toBe(0);
    expect((await db.pool.query("SELECT count(*)::int AS n FROM records WHERE chain_id = 'rb-a'")).rows[0].n).toBe(3000);
    await new Projector({ pool: db.pool, nc: nats.nc, chainId: 'rb-b', exitAtHead: true }).start().done;
    expect(diffTables(b, await dumpTables(db.pool, 'rb-b'))).toEqual([]);
  });
});
