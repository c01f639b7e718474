/**
 * Tenants with usage on a chain, paginated (the projector's listTenants
 * returns them all at once): a loose index scan over the primary key of
 * tenant_usage_daily, so a page costs O(page) index probes however many
 * days of rollups there are.
 */
import type pg from 'pg';

/** Tenants with usage rows, in order, after `after` (loose index scan over the daily rollup's primary key). */
export async function readTenants(db: pg.Pool, q: { chainId: string; after: string | undefined; limit: number; only?: string }): Promise<string[]> {
  if (q.only !== undefined) {
    if (q.after !== undefined && q.after >= q.only) return [];
    const r = await db.query('SELECT 1 FROM tenant_usage_daily WHERE chain_id = $1 AND tenant = $2 LIMIT 1', [q.chainId, q.only]);
    return (r.rowCount ?? 0) > 0 ? [q.only] : [];
  }
  const r = await db.query<{ tenant: string }>(
    `WITH RECURSIVE t(tenant) AS (
       (SELECT tenant FROM tenant_usage_daily WHERE chain_id = $1 AND ($2::text IS NULL OR tenant > $2) ORDER BY tenant LIMIT 1)
       UNION ALL
       SELECT (SELECT d.tenant FROM tenant_usage_daily d WHERE d.chain_id = $1 AND d.tenant > t.tenant ORDER BY d.tenant LIMIT 1)
         FROM t WHERE t.tenant IS NOT NULL)
     SELECT tenant FROM t WHERE tenant IS NOT NULL LIMIT $3`,
    [q.chainId, q.after ?? null, q.limit],
  );
  return r.rows.map((x) => x.tenant);
}
