/**
 * Runs `fn` with a pooled client. A checked-out node-postgres client whose
 * backend dies (server restart, pg_terminate_backend) emits 'error'; without
 * a listener that is an uncaught exception that kills the process, so one is
 * attached (once per client, for its life: a client being destroyed after a
 * failure can still emit). The failing query rejects anyway. A
 * client that failed with a connection error is destroyed, not pooled again.
 */
import type pg from 'pg';
import { isTransientPgError } from './pg-errors.js';

const ignore = (): void => undefined;
/** Clients that already carry the no-op listener (kept for the client's life: a destroyed client can still emit). */
const guarded = new WeakSet<pg.PoolClient>();

export async function withClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  if (!guarded.has(client)) {
    client.on('error', ignore);
    guarded.add(client);
  }
  let failure: unknown;
  try {
    return await fn(client);
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    client.release(failure !== undefined && isTransientPgError(failure) ? (failure as Error) : undefined);
  }
}

/** withClient inside BEGIN … COMMIT (ROLLBACK on any error). */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  return withClient(pool, async (client) => {
    await client.query(begin);
    try {
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(ignore);
      throw e;
    }
  });
}
