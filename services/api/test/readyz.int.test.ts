/**
 * /readyz answers without a key, so it must not pass on what the Postgres
 * driver says when it cannot connect (host names, user names, auth
 * failures): a real pg pool against a port nothing listens on.
 */
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { pino } from 'pino';
import { LedgerQuery } from '@hwledger/api';
import { freePort } from '@hwledger/testkit';

const pools: pg.Pool[] = [];
afterAll(async () => {
  for (const p of pools) await p.end().catch(() => undefined);
});

describe('readiness with Postgres unreachable', () => {
  it('says "postgres: unreachable" and logs the driver text instead of answering with it', async () => {
    const port = await freePort();
    const pool = new pg.Pool({ connectionString: `postgres://secret_user:hunter2@127.0.0.1:${port}/ledger_db`, connectionTimeoutMillis: 2_000 }).on('error', () => undefined);
    pools.push(pool);
    const logged: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (s: string) => void logged.push(s) });
    const r = await new LedgerQuery({ pool, chainId: 'c', logger }).ready();
    expect(r.ready).toBe(false);
    expect(r.checks).toContain('postgres: unreachable');
    expect(r.checks.join('\n')).not.toMatch(/secret_user|127\.0\.0\.1|ECONNREFUSED|ledger_db/);
    expect(logged.join('\n')).toMatch(/ECONNREFUSED/);
  });
});
