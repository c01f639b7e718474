/**
 * Batched writes: one INSERT … SELECT FROM unnest($1::t[], $2::t[], …) per
 * table and batch (one round trip, one plan), optionally an upsert.
 * bigint values travel as decimal strings (exact beyond 2^53).
 */
import type pg from 'pg';

export interface Column {
  name: string;
  /** Array element type of the parameter (e.g. 'text', 'numeric', 'bytea'). */
  type: string;
  /** Expression selecting the value from the unnest alias `x` (default x.<name>). */
  select?: string;
}

type Cell = string | number | bigint | boolean | Uint8Array | null;

function param(v: Cell): string | number | boolean | Buffer | null {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return v;
}

export async function bulkWrite(client: pg.PoolClient, table: string, columns: readonly Column[], rows: readonly Cell[][], onConflict = ''): Promise<void> {
  if (rows.length === 0) return;
  const arrays: (string | number | boolean | Buffer | null)[][] = columns.map(() => []);
  for (const row of rows) {
    for (let i = 0; i < columns.length; i++) arrays[i]!.push(param(row[i] ?? null));
  }
  const names = columns.map((c) => c.name).join(', ');
  const params = columns.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ');
  const selects = columns.map((c) => c.select ?? `x.${c.name}`).join(', ');
  const sql = `INSERT INTO ${table} (${names}) SELECT ${selects} FROM unnest(${params}) AS x(${names}) ${onConflict}`;
  await client.query(sql, arrays);
}
