/**
 * A real NATS server and Postgres database holding the crafted scenario
 * (scenario.ts) on chain `api-main`, projected by the real projector under a
 * price book and reconciled by the real reconciler, plus chain `api-broken`
 * whose third record was altered after sealing (the projector stops there).
 * Optionally an in-process API (gRPC + HTTP on free ports) over it.
 */
import pg from 'pg';
import { Registry } from 'prom-client';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Sealed } from '@hwledger/chain';
import { connectNats, silentLogger } from '@hwledger/core';
import { createTestDatabase, TestNatsServer, waitFor, type TestDatabase } from '@hwledger/testkit';
import { migrate, Projector, setPriceBook } from '@hwledger/projector';
import { Reconciler } from '@hwledger/reconciler';
import { generateKey, startApi, type ApiKeyEntry, type RunningApi } from '@hwledger/api';
import { publishChain } from './publish-chain.js';
import { HOUR, scenarioEvents, scenarioSealedAt, T0 } from './scenario.js';

export const CHAIN = 'api-main';
export const BROKEN = 'api-broken';

export interface Fixture {
  nats: TestNatsServer;
  db: TestDatabase;
  pool: pg.Pool;
  nc: NatsConnection;
  sealed: Sealed[];
  keys: Record<'operator' | 't47' | 't52', { key: string; entry: ApiKeyEntry }>;
  api?: RunningApi;
  close(): Promise<void>;
}

export async function startFixture(opts: { api?: boolean } = {}): Promise<Fixture> {
  const [nats, db] = await Promise.all([TestNatsServer.start(), createTestDatabase()]);
  const pool = new pg.Pool({ connectionString: db.url, max: 4 }).on('error', () => undefined); // an idle client dies when the test database is dropped: not an uncaught error
  const nc = await connectNats(nats.url, 'api-test');
  const keys = {
    operator: generateKey({ role: 'operator', id: 'ops' }),
    t47: generateKey({ role: 'tenant', tenant: '47', id: 't47' }),
    t52: generateKey({ role: 'tenant', tenant: '52', id: 't52' }),
  };
  let api: RunningApi | undefined;
  const close = async (): Promise<void> => {
    await api?.close();
    await nc.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    await db.drop();
    await nats.stop();
  };
  try {
    await migrate(pool);
    await setPriceBook(pool, { effectiveFromMs: 0n, note: 'test', gpuHour: new Map([['*', 3_600_000n], ['H100', 7_200_000n]]), tokenPerMtok: new Map([['*', 1_000_000n]]) });
    const events = scenarioEvents();
    const sealed = await publishChain(nc, CHAIN, events, scenarioSealedAt(events.length));
    const p = new Projector({ pool, nc, chainId: CHAIN, exitAtHead: true, logger: silentLogger(), registry: new Registry() }).start();
    await p.done;
    if (p.checkpoint.sequence !== BigInt(events.length)) throw new Error(`projected ${p.checkpoint.sequence} of ${events.length} records`);
    await new Reconciler({ pool, chainId: CHAIN, settings: { thresholdPct: 10, dispatchTimeoutMs: HOUR }, registry: new Registry() }).runOnce();

    await publishChain(nc, BROKEN, events.slice(0, 5), (i) => T0 + BigInt(i), (s, i) => {
      if (i !== 2) return undefined;
      const body = Uint8Array.from(s.canonical);
      body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0xff;
      return body;
    });
    // Not awaiting pb.done: with exitAtHead the projector's stop-on-break path can wait in
    // ChainSource.close() (nats.js consume().close() with undelivered messages buffered). The
    // chain_status row is committed before the state turns 'broken', which is all these tests need.
    const pb = new Projector({ pool, nc, chainId: BROKEN, exitAtHead: true, logger: silentLogger(), registry: new Registry() }).start();
    await waitFor(() => pb.state === 'broken', 30_000, 50, 'the projector to stop at the tampered record');

    if (opts.api !== false) {
      api = await startApi({
        databaseUrl: db.url,
        chainId: CHAIN,
        keys: [keys.operator.entry, keys.t47.entry, keys.t52.entry],
        natsUrl: nats.url,
        httpPort: 0,
        grpcPort: 0,
        logger: silentLogger(),
        registry: new Registry(),
      });
    }
    return { nats, db, pool, nc, sealed, keys, ...(api ? { api } : {}), close };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}
