/**
 * Per-file fixtures for vitest: a real nats-server with a connection, and a
 * fresh Postgres database with a pool, started in `beforeAll` and disposed in
 * `afterAll` (vitest runs after-hooks in reverse order, so hooks a test file
 * registers after these, such as stopping a sequencer, run before the
 * connection closes). Call them at the top level of a test file or inside a
 * `describe`; read the fields inside hooks and tests only.
 */
import { afterAll, beforeAll } from 'vitest';
import pg from 'pg';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '@hwledger/core';
import { TestNatsServer, type NatsServerOptions } from './nats-server.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

/** A started server and a connection to it (client name `test` unless given). */
export interface NatsFixture {
  readonly server: TestNatsServer;
  readonly nc: NatsConnection;
  readonly url: string;
}

function ready<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`${what} is not started yet: read it inside beforeAll, a test or afterAll, after the fixture's own beforeAll`);
  return v;
}

/** A nats-server (own port and store, removed afterwards) and a connection, for the enclosing file or describe. */
export function useNatsServer(opts: NatsServerOptions & { clientName?: string } = {}): NatsFixture {
  let server: TestNatsServer | undefined;
  let nc: NatsConnection | undefined;
  beforeAll(async () => {
    server = await TestNatsServer.start(opts);
    nc = await connectNats(server.url, opts.clientName ?? 'test');
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });
  return {
    get server() {
      return ready(server, 'useNatsServer: the server');
    },
    get nc() {
      return ready(nc, 'useNatsServer: the connection');
    },
    get url() {
      return ready(server, 'useNatsServer: the server').url;
    },
  };
}

/** A fresh database and a pool on it. */
export interface DatabaseFixture {
  readonly db: TestDatabase;
  readonly pool: pg.Pool;
}

/**
 * A fresh database (dropped afterwards) and a pool of `max` connections
 * (default 4), after `setup` (e.g. the projector's migrations) ran on it.
 * Idle clients may be terminated by other tests on the shared server: their
 * errors are ignored, as the tests' own pools did.
 */
export function useTestDatabase(opts: { prefix?: string; max?: number; setup?: (pool: pg.Pool) => Promise<unknown> } = {}): DatabaseFixture {
  let db: TestDatabase | undefined;
  let pool: pg.Pool | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(opts.prefix);
    pool = new pg.Pool({ connectionString: db.url, max: opts.max ?? 4 }).on('error', () => undefined);
    if (opts.setup) await opts.setup(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });
  return {
    get db() {
      return ready(db, 'useTestDatabase: the database');
    },
    get pool() {
      return ready(pool, 'useTestDatabase: the pool');
    },
  };
}
