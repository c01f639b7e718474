/**
 * `--rebuild`: forget everything projected from a chain and start again from
 * genesis, in one transaction (readers see the old models or empty ones,
 * never half of each). When the database holds only this chain the tables
 * are truncated; otherwise the chain's rows are deleted. Price books are
 * configuration, not derived data, and stay. A chain whose first records
 * were archived (deleted from `records`) is refused: see below.
 */
import type pg from 'pg';
import { genesisHash } from '@hwledger/chain';
import { ensureCheckpoint } from './checkpoint.js';
import { inTransaction } from '../pg-client.js';
import { HwlError } from '@hwledger/core';

/** Every table derived from a chain (reconciler output included). */
export const DERIVED_TABLES = [
  'records',
  'devices',
  'device_metrics',
  'device_metrics_hourly',
  'device_metrics_daily',
  'jobs',
  'inference_requests',
  'inference_request_events',
  'tenant_usage_hourly',
  'tenant_usage_daily',
  'tenant_reason_hourly',
  'tenant_reason_daily',
  'job_reconciliation',
  'reconciliation_flags',
  'reconciler_state',
] as const;

export async function rebuildChain(pool: pg.Pool, chainId: string): Promise<{ mode: 'truncate' | 'delete' }> {
  return inTransaction(pool, async (client) => {
    // First, before any lock of our own on it: no projector of another chain may start (insert
    // its checkpoint) or commit a batch (its checkpoint FOR UPDATE, then UPDATE) until this
    // commits. Otherwise one that commits between the count below and the TRUNCATE has its rows
    // wiped while its checkpoint stays at its head (rebuild-race.int.test.ts).
    await client.query('LOCK TABLE projector_checkpoints IN SHARE ROW EXCLUSIVE MODE');
    await ensureCheckpoint(client, chainId);
    await client.query('SELECT 1 FROM projector_checkpoints WHERE chain_id = $1 FOR UPDATE', [chainId]);
    // Archival (`hwledger archive --db`) deletes the records up to its cut and purges them from
    // the stream; the rollups then hold the only copy of their usage. A replay from genesis would
    // meet the purged stream (a gap: the chain reported broken) after wiping those rollups: the
    // archived records' billed usage gone for good. Refuse before anything is deleted.
    const cp = await client.query<{ s: string }>('SELECT sequence::text AS s FROM projector_checkpoints WHERE chain_id = $1', [chainId]);
    const projected = BigInt(cp.rows[0]?.s ?? '0');
    if (projected > 0n) {
      const first = await client.query<{ s: string | null }>('SELECT min(sequence)::text AS s FROM records WHERE chain_id = $1', [chainId]);
      const lowest = first.rows[0]?.s ?? null;
      if (lowest === null || BigInt(lowest) > 1n) {
        throw new HwlError(
          'FAILED_PRECONDITION',
          `chain ${chainId} cannot be rebuilt: records 1..${lowest === null ? projected : BigInt(lowest) - 1n} are no longer in the database (archived: hwledger archive --db), ` +
            'and a replay from genesis would drop the usage they billed from the rollups for good; nothing was changed',
        );
      }
    }
    const others = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM (SELECT chain_id FROM projector_checkpoints UNION SELECT chain_id FROM chain_status UNION (SELECT chain_id FROM records LIMIT 1000)) c WHERE chain_id <> $1`,
      [chainId],
    );
    const mode = others.rows[0]?.n === '0' ? 'truncate' : 'delete';
    if (mode === 'truncate') {
      await client.query(`TRUNCATE ${DERIVED_TABLES.join(', ')}`);
    } else {
      for (const t of DERIVED_TABLES) await client.query(`DELETE FROM ${t} WHERE chain_id = $1`, [chainId]);
    }
    const genesis = Buffer.from(genesisHash(chainId));
    await client.query('UPDATE projector_checkpoints SET sequence = 0, hash = $2, sealed_at_ms = NULL, updated_at = now() WHERE chain_id = $1', [
      chainId,
      genesis,
    ]);
    await client.query(
      `UPDATE chain_status SET head_sequence = 0, verified_sequence = 0, verified_hash = $2, status = 'ok',
         broken_sequence = NULL, broken_reason = NULL, broken_message = NULL, updated_at = now() WHERE chain_id = $1`,
      [chainId, genesis],
    );
    return { mode };
  });
}
