/**
 * Versioned schema migrations (src/migrations/NNN_name.sql, applied in order,
 * each in its own transaction, recorded in hwl_schema_migrations). A session
 * advisory lock serialises concurrent starts (two projectors, an API and a
 * reconciler booting together): the loser waits, then finds nothing to do.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { HwlError } from '@hwledger/core';
import { withClient } from './pg-client.js';

/** Advisory lock key of the migration runner ("hwl_migrate" as an int8). */
export const MIGRATION_LOCK_KEY = 0x68776c5f6d6967n;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The .sql files ship in src/migrations; dist/ modules find them there too. */
function migrationsDir(): string {
  for (const rel of ['./migrations/', '../src/migrations/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new HwlError('INTERNAL', 'projector migrations directory not found');
}

export function loadMigrations(dir = migrationsDir()): Migration[] {
  const out: Migration[] = [];
  for (const f of readdirSync(dir).sort()) {
    const m = /^(\d{3})_([a-z0-9_]+)\.sql$/.exec(f);
    if (!m) continue;
    out.push({
      version: Number(m[1]),
      name: m[2] ?? f,
      sql: readFileSync(`${dir}/${f}`, 'utf8'),
    });
  }
  for (let i = 0; i < out.length; i++) {
    if (out[i]?.version !== i + 1)
      throw new HwlError('INTERNAL', `migrations must be numbered 001, 002, … without gaps (found ${out[i]?.version} at position ${i + 1})`);
  }
  return out;
}

/** Applies every pending migration; returns the versions applied by this call. */
export async function migrate(pool: pg.Pool, migrations: Migration[] = loadMigrations()): Promise<number[]> {
  const applied: number[] = [];
  await withClient(pool, async (client) => {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS hwl_schema_migrations (
           version integer PRIMARY KEY,
           name text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const done = new Set((await client.query<{ version: number }>('SELECT version FROM hwl_schema_migrations')).rows.map((r) => r.version));
      const newest = Math.max(0, ...done);
      if (newest > migrations.length) {
        throw new HwlError('CONFIG', `database schema is at version ${newest}, newer than this build knows (${migrations.length}): upgrade hwledger`);
      }
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO hwl_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new HwlError('INTERNAL', `migration ${String(m.version).padStart(3, '0')}_${m.name} failed: ${e instanceof Error ? e.message : String(e)}`, {
            cause: e,
          });
        }
        applied.push(m.version);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]).catch(() => undefined);
    }
  });
  return applied;
}

/** The highest applied schema version (0 on an empty database). */
export async function schemaVersion(pool: pg.Pool): Promise<number> {
  const exists = await pool.query<{ t: string | null }>("SELECT to_regclass('hwl_schema_migrations')::text AS t");
  if (exists.rows[0]?.t == null) return 0;
  const r = await pool.query<{ v: number }>('SELECT coalesce(max(version), 0) AS v FROM hwl_schema_migrations');
  return r.rows[0]?.v ?? 0;
}
