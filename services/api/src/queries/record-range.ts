/** Reads stored records by sequence for re-verification (VerifyRange). */
import type pg from 'pg';
import { big, bytes } from './pg-values.js';

export interface RangeRecord {
  sequence: bigint;
  prevHash: Uint8Array;
  hash: Uint8Array;
  canonical: Uint8Array;
}

/** Records from..to (inclusive) in sequence order, fetched in keyset batches. */
export async function* readRecordRange(db: pg.Pool, chainId: string, from: bigint, to: bigint, batch = 5_000): AsyncGenerator<RangeRecord> {
  let next = from;
  while (next <= to) {
    const r = await db.query<{ sequence: string; prev_hash: Buffer; hash: Buffer; canonical: Buffer }>(
      `SELECT sequence, prev_hash, hash, canonical FROM records
        WHERE chain_id = $1 AND sequence >= $2 AND sequence <= $3 ORDER BY sequence LIMIT $4`,
      [chainId, next.toString(), to.toString(), batch],
    );
    for (const x of r.rows) {
      yield { sequence: big(x.sequence), prevHash: bytes(x.prev_hash), hash: bytes(x.hash), canonical: bytes(x.canonical) };
    }
    const last = r.rows[r.rows.length - 1];
    if (!last || r.rows.length < batch) return;
    next = big(last.sequence) + 1n;
  }
}

/** The stored hash of one record (an anchor), or undefined when it is not stored. */
export async function readRecordHash(db: pg.Pool, chainId: string, sequence: bigint): Promise<Uint8Array | undefined> {
  const r = await db.query<{ hash: Buffer }>('SELECT hash FROM records WHERE chain_id = $1 AND sequence = $2', [chainId, sequence.toString()]);
  const row = r.rows[0];
  return row ? bytes(row.hash) : undefined;
}

/**
 * The chain's archive cut (projector migration 006): records up to it were
 * deleted by `hwledger archive --db`, which verified the cut's head hash
 * against a signed checkpoint. Undefined when nothing was archived, or the
 * schema predates the table.
 */
export async function readArchivedPrefix(db: pg.Pool, chainId: string): Promise<{ sequence: bigint; hash: Uint8Array } | undefined> {
  try {
    const r = await db.query<{ sequence: string; hash: Buffer }>('SELECT sequence, hash FROM archived_prefixes WHERE chain_id = $1', [chainId]);
    const row = r.rows[0];
    return row ? { sequence: big(row.sequence), hash: bytes(row.hash) } : undefined;
  } catch (e) {
    if ((e as { code?: string }).code === '42P01') return undefined; // undefined_table
    throw e;
  }
}
