/**
 * A default price book for the local stack, so the dashboard shows costs
 * from the first minute: set once (when the database has none) with
 * `hwledger pricing set`, effective from the epoch, re-rating everything
 * already projected. Rates are illustrative, integer micro-USD.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { ManagedProcess } from './managed-process.js';
import { StackError } from './stack-error.js';

export const DEFAULT_PRICE_BOOK = {
  effective_from: 0,
  note: 'npm start default (illustrative rates)',
  gpu_hour_micro_usd: { '*': 2_500_000, 'NVIDIA H100 80GB HBM3': 4_000_000, 'NVIDIA A100-SXM4-80GB': 2_800_000 },
  token_micro_usd_per_mtok: { '*': 600_000 },
};

export async function ensurePriceBook(o: { databaseUrl: string; home: string; logs: string; cli: string }): Promise<boolean> {
  const c = new pg.Client({ connectionString: o.databaseUrl });
  await c.connect();
  let count: number;
  try {
    count = Number((await c.query<{ n: string }>('SELECT count(*)::text AS n FROM price_books')).rows[0]?.n ?? '0');
  } finally {
    await c.end();
  }
  if (count > 0) return false;
  const file = join(o.home, 'price-book.json');
  writeFileSync(file, `${JSON.stringify(DEFAULT_PRICE_BOOK, null, 2)}\n`);
  // The URL (with its password) goes through the environment, not argv: other users can read argv in `ps`.
  const p = new ManagedProcess({
    name: 'pricing',
    command: process.execPath,
    args: [o.cli, 'pricing', 'set', '--file', file],
    env: { ...process.env, DATABASE_URL: o.databaseUrl },
    logFile: join(o.logs, 'pricing.log'),
  });
  const r = await p.exited;
  if (r.code !== 0) throw new StackError('START_FAILED', 'price book', `hwledger pricing set failed: ${p.lastLine()} (log: ${p.o.logFile})`);
  return true;
}
