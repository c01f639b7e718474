/**
 * The dashboard polls every 5 s; its reads of the tenant rollups (last 24 h
 * or 7 days, every chain and tenant) and of the newest reconciliation flags
 * must be bounded by time, not scan tables that grow for ever (the rollups'
 * primary keys lead with chain and tenant). Checked on the plans Postgres
 * makes for the dashboard's own statements with sequential scans priced out:
 * without an index on the time column the best it can do is a whole scan of
 * a primary-key index, with the time range as a filter.
 */
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { useTestDatabase } from '@hwledger/testkit';
import { migrate } from '@hwledger/projector';
import { flags, tenantSeries } from '../src/dashboard/dashboard-queries.js';

const db = useTestDatabase({ prefix: 'hwl_dashplan', max: 3, setup: (pool) => migrate(pool) });

/** A pool that records the plan of every statement matching `pick` (EXPLAIN with enable_seqscan off), then runs it. */
function planningPool(pool: pg.Pool, pick: (sql: string) => boolean, plans: string[]): pg.Pool {
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
      return async (text: string, values?: unknown[]) => {
        if (typeof text === 'string' && pick(text)) {
          const c = await target.connect();
          try {
            await c.query('SET enable_seqscan = off');
            const r = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, values);
            plans.push(r.rows.map((x) => x['QUERY PLAN']).join('\n'));
          } finally {
            await c.query('RESET enable_seqscan').catch(() => undefined);
            c.release();
          }
        }
        return target.query(text, values);
      };
    },
  });
}

describe('dashboard queries', () => {
  it('read the tenant rollups of a time range and the newest flags without scanning the tables', async () => {
    const plans: string[] = [];
    const pool = planningPool(db.pool, (sql) => /window_start_ms >=|ORDER BY f\.chain_time_ms/.test(sql), plans);
    const now = 1_795_000_000_000;
    await tenantSeries(pool, '24h', now);
    await tenantSeries(pool, '7d', now);
    await flags(pool);
    expect(plans.length).toBeGreaterThanOrEqual(5); // usage and reasons for both ranges, the flags
    const [usage24, reasons24, usage7d, reasons7d, newest] = plans;
    // The rollups: an index range on the time column (not a scan of a primary key led by chain and tenant).
    for (const p of [usage24, reasons24, usage7d, reasons7d]) expect(p, p).toMatch(/Index Cond: \(\(window_start_ms >= /);
    // The newest flags: read in time order from an index, not sorted from the whole table.
    expect(newest, newest).toMatch(/Index Scan using reconciliation_flags_time on reconciliation_flags/);
  });
});
