/**
 * What the API adds to the projector's auditTrail (docs/read-models.md
 * "records"): the neighbours' hashes of a page of records (to check the links
 * on both sides of each) and who owns a key (the tenant access rule).
 */
import type pg from 'pg';
import { big, bytes } from './pg-values.js';

/** prev_hash and hash of the given sequences (those that exist). */
export async function readLinks(db: pg.Pool, chainId: string, sequences: bigint[]): Promise<Map<bigint, { prevHash: Uint8Array; hash: Uint8Array }>> {
  const out = new Map<bigint, { prevHash: Uint8Array; hash: Uint8Array }>();
  if (sequences.length === 0) return out;
  const r = await db.query<{ sequence: string; prev_hash: Buffer; hash: Buffer }>(
    'SELECT sequence, prev_hash, hash FROM records WHERE chain_id = $1 AND sequence = ANY($2::bigint[])',
    [chainId, sequences.map(String)],
  );
  for (const x of r.rows) out.set(big(x.sequence), { prevHash: bytes(x.prev_hash), hash: bytes(x.hash) });
  return out;
}

export interface KeyOwnership {
  /** Some record has the key as its device_id (a device-level view: operator only). */
  isDevice: boolean;
  /** Distinct envelope tenants of the records of the key as job or request id (at most a few). */
  tenants: string[];
  found: boolean;
}

/** Who owns a key, for the tenant access rule. Bounded work: an existence probe and a small DISTINCT. */
export async function readKeyOwnership(db: pg.Pool, chainId: string, key: string): Promise<KeyOwnership> {
  const dev = await db.query('SELECT 1 FROM records WHERE device_id = $2 AND chain_id = $1 LIMIT 1', [chainId, key]);
  const t = await db.query<{ tenant: string }>(
    `SELECT DISTINCT tenant FROM (
       (SELECT tenant FROM records WHERE job_id = $2 AND chain_id = $1)
       UNION ALL
       (SELECT tenant FROM records WHERE request_id = $2 AND chain_id = $1)) k
     LIMIT 4`,
    [chainId, key],
  );
  const isDevice = (dev.rowCount ?? 0) > 0;
  const tenants = t.rows.map((x) => x.tenant);
  return { isDevice, tenants, found: isDevice || tenants.length > 0 };
}
