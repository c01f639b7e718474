/** chain_status updates, written in the batch transaction (docs/read-models.md "chain_status"). */
import type pg from 'pg';
import type { Anchor } from '@hwledger/chain';
import type { ChainBreak } from './entry-verifier.js';

export async function writeChainStatus(
  client: pg.PoolClient,
  chainId: string,
  headSequence: bigint,
  verified: Anchor,
  failure: ChainBreak | undefined,
): Promise<void> {
  if (failure) {
    await client.query(
      `UPDATE chain_status SET head_sequence = greatest(head_sequence, $2), verified_sequence = $3, verified_hash = $4, status = 'broken',
         broken_sequence = $5, broken_reason = $6, broken_message = $7, updated_at = now() WHERE chain_id = $1`,
      [
        chainId,
        headSequence.toString(),
        verified.sequence.toString(),
        Buffer.from(verified.hash),
        failure.sequence.toString(),
        failure.reason,
        failure.message,
      ],
    );
    return;
  }
  // A break stays reported until verification passes beyond it (a repaired stream after a rebuild).
  await client.query(
    `UPDATE chain_status SET head_sequence = greatest(head_sequence, $2), verified_sequence = $3, verified_hash = $4,
       status = CASE WHEN broken_sequence IS NULL OR broken_sequence <= $3 THEN 'ok' ELSE status END,
       broken_reason = CASE WHEN broken_sequence <= $3 THEN NULL ELSE broken_reason END,
       broken_message = CASE WHEN broken_sequence <= $3 THEN NULL ELSE broken_message END,
       broken_sequence = CASE WHEN broken_sequence <= $3 THEN NULL ELSE broken_sequence END,
       updated_at = now() WHERE chain_id = $1`,
    [chainId, headSequence.toString(), verified.sequence.toString(), Buffer.from(verified.hash)],
  );
}
