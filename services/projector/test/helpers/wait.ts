import type pg from 'pg';

/** The projector checkpoint of a chain (0 when none). */
export async function checkpointOf(pool: pg.Pool, chainId: string): Promise<bigint> {
  const r = await pool
    .query<{ sequence: string }>('SELECT sequence FROM projector_checkpoints WHERE chain_id = $1', [chainId])
    .catch(() => ({ rows: [] as { sequence: string }[] }));
  return BigInt(r.rows[0]?.sequence ?? '0');
}
