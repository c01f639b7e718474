/**
 * The per-file fixtures themselves (fixtures.ts): useNatsServer's connection
 * carries a JetStream round trip, useTestDatabase's setup ran on a fresh
 * database; a field read before the fixture's beforeAll says so; and after
 * the file the server is stopped and the database dropped.
 */
import { connect as tcpConnect } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ADMIN_PG_URL, useNatsServer, useTestDatabase } from '@hwledger/testkit';

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function databaseExists(name: string): Promise<boolean> {
  const admin = new pg.Client({ connectionString: ADMIN_PG_URL });
  await admin.connect();
  try {
    return ((await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount ?? 0) > 0;
  } finally {
    await admin.end();
  }
}

// Registered before the fixtures, so it runs after their afterAll hooks
// (vitest runs after-hooks in reverse order): both are gone by then.
let port = 0;
let dbName = '';
afterAll(async () => {
  expect(port).toBeGreaterThan(0);
  expect(await listening(port)).toBe(false);
  expect(dbName).not.toBe('');
  expect(await databaseExists(dbName)).toBe(false);
});

const nats = useNatsServer({ clientName: 'fixtures-test' });
const db = useTestDatabase({ prefix: 'hwl_fixtures', max: 2, setup: (pool) => pool.query('CREATE TABLE made_by_setup (id int PRIMARY KEY, note text)') });

// Read at collection time, before any beforeAll ran.
const early: Record<string, unknown> = {};
for (const [what, read] of [
  ['nats.server', () => nats.server],
  ['nats.nc', () => nats.nc],
  ['nats.url', () => nats.url],
  ['db.db', () => db.db],
  ['db.pool', () => db.pool],
] as const) {
  try {
    read();
    early[what] = 'no error';
  } catch (e) {
    early[what] = e;
  }
}

beforeAll(() => {
  port = nats.server.port;
  dbName = db.db.name;
});

describe('useNatsServer', () => {
  it('starts a server whose connection carries a JetStream round trip', async () => {
    expect(nats.url).toBe(`nats://127.0.0.1:${port}`);
    expect(nats.server.url).toBe(nats.url);
    expect(await listening(port)).toBe(true);
    const jsm = await jetstreamManager(nats.nc);
    await jsm.streams.add({ name: 'FIXTURE', subjects: ['fixture.>'] });
    const ack = await jetstream(nats.nc).publish('fixture.a', 'round trip');
    expect(ack).toMatchObject({ stream: 'FIXTURE', seq: 1 });
    expect((await jsm.streams.getMessage('FIXTURE', { seq: 1 }))?.string()).toBe('round trip');
  });
});

describe('useTestDatabase', () => {
  it('runs setup on a fresh database, with a pool of the given size', async () => {
    expect(dbName).toMatch(/^hwl_fixtures_/);
    expect(await databaseExists(dbName)).toBe(true);
    expect(db.pool.options.max).toBe(2);
    expect((await db.pool.query<{ name: string }>('SELECT current_database() AS name')).rows[0]?.name).toBe(dbName);
    await db.pool.query("INSERT INTO made_by_setup VALUES (1, 'setup ran')");
    expect((await db.pool.query('SELECT id, note FROM made_by_setup')).rows).toEqual([{ id: 1, note: 'setup ran' }]);
  });
});

describe('fields read too early', () => {
  it('throw a clear error before the fixture started', () => {
    expect(Object.keys(early)).toEqual(['nats.server', 'nats.nc', 'nats.url', 'db.db', 'db.pool']);
    for (const [what, e] of Object.entries(early)) {
      expect(e, what).toBeInstanceOf(Error);
      expect((e as Error).message, what).toMatch(/is not started yet: read it inside beforeAll, a test or afterAll/);
    }
    expect((early['nats.nc'] as Error).message).toMatch(/^useNatsServer: the connection/);
    expect((early['db.pool'] as Error).message).toMatch(/^useTestDatabase: the pool/);
  });
});
