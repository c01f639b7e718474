/**
 * The projector checkpoint (projector_checkpoints): the last projected
 * sequence and its hash, i.e. the anchor the next batch is verified from.
 * It is only ever written in the transaction that writes the rows of the
 * batch reaching it, after checking (FOR UPDATE) that it still is the anchor
 * the batch was verified from: a crash loses nothing (resume at sequence+1)
 * and a second projector of the same chain cannot double-count (its commit
 * finds the checkpoint moved and starts over from it).
 */
import type pg from 'pg';
import { constantTimeEqual, genesisHash, toHex, type Anchor } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';

export async function ensureCheckpoint(db: pg.Pool | pg.PoolClient, chainId: string): Promise<void> {
  await db.query('INSERT INTO projector_checkpoints (chain_id, sequence, hash) VALUES ($1, 0, $2) ON CONFLICT (chain_id) DO NOTHING', [
    chainId,
    Buffer.from(genesisHash(chainId)),
  ]);
  await db.query('INSERT INTO chain_status (chain_id, verified_hash) VALUES ($1, $2) ON CONFLICT (chain_id) DO NOTHING', [
    chainId,
    Buffer.from(genesisHash(chainId)),
  ]);
}

export async function readCheckpoint(db: pg.Pool | pg.PoolClient, chainId: string, forUpdate = false): Promise<Anchor> {
  const r = await db.query<{ sequence: string; hash: Buffer }>(
    `SELECT sequence, hash FROM projector_checkpoints WHERE chain_id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [chainId],
  );
  const row = r.rows[0];
  if (!row) return { chainId, sequence: 0n, hash: genesisHash(chainId) };
  const anchor = {
    chainId,
    sequence: BigInt(row.sequence),
    hash: new Uint8Array(row.hash),
  };
  if (anchor.sequence === 0n && !constantTimeEqual(anchor.hash, genesisHash(chainId))) {
    throw new HwlError('INTEGRITY', `projector checkpoint of ${chainId} at 0 is not the genesis hash`);
  }
  return anchor;
}

/** Thrown when the checkpoint moved under a batch (another projector, a rebuild). */
export class CheckpointMoved extends HwlError {
  constructor(expected: Anchor, found: Anchor) {
    super(
      'CONFLICT',
      `checkpoint of ${expected.chainId} moved from ${expected.sequence}/${toHex(expected.hash).slice(0, 12)} to ${found.sequence}/${toHex(found.hash).slice(0, 12)}`,
    );
  }
}

export async function lockCheckpoint(client: pg.PoolClient, expected: Anchor): Promise<void> {
  const found = await readCheckpoint(client, expected.chainId, true);
  if (found.sequence !== expected.sequence || !constantTimeEqual(found.hash, expected.hash)) throw new CheckpointMoved(expected, found);
}

/** Moves the checkpoint to `head`, with its record's sealed_at_ms (chain time; kept here because archival deletes the record's row). */
export async function writeCheckpoint(client: pg.PoolClient, head: Anchor, sealedAtMs: bigint): Promise<void> {
  await client.query('UPDATE projector_checkpoints SET sequence = $2, hash = $3, sealed_at_ms = $4, updated_at = now() WHERE chain_id = $1', [
    head.chainId,
    head.sequence.toString(),
    Buffer.from(head.hash),
    sealedAtMs.toString(),
  ]);
}
