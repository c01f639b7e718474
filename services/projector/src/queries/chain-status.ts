/** Chain status as the projector last wrote it (docs/read-models.md "chain_status"). */
import type pg from 'pg';
import { toHex } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';
import { chainIdArg } from './args.js';

export interface ChainStatus {
  chainId: string;
  status: 'ok' | 'broken';
  /** Last sequence seen on the stream (unverified). */
  headSequence: bigint;
  /** Records 1..verifiedSequence are verified and projected. */
  verifiedSequence: bigint;
  verifiedHash: string | null;
  /** Chain time of the last verified record (null before the first). */
  verifiedSealedAtMs: bigint | null;
  lagRecords: bigint;
  brokenSequence: bigint | null;
  brokenReason: string | null;
  brokenMessage: string | null;
  updatedAt: Date;
}

export async function chainStatus(pool: pg.Pool, chainId: string): Promise<ChainStatus> {
  chainIdArg(chainId);
  const r = await pool.query<{
    head_sequence: string;
    verified_sequence: string;
    verified_hash: Buffer | null;
    status: 'ok' | 'broken';
    broken_sequence: string | null;
    broken_reason: string | null;
    broken_message: string | null;
    updated_at: Date;
    sealed_at_ms: string | null;
  }>(
    // The record's row may be gone (archival); the checkpoint keeps its sealed_at_ms.
    `SELECT s.*, COALESCE(r.sealed_at_ms, c.sealed_at_ms) AS sealed_at_ms FROM chain_status s
       LEFT JOIN records r ON r.chain_id = s.chain_id AND r.sequence = s.verified_sequence
       LEFT JOIN projector_checkpoints c ON c.chain_id = s.chain_id AND c.sequence = s.verified_sequence
      WHERE s.chain_id = $1`,
    [chainId],
  );
  const row = r.rows[0];
  if (!row) throw new HwlError('NOT_FOUND', `chain ${JSON.stringify(chainId)} has not been projected`);
  const head = BigInt(row.head_sequence);
  const verified = BigInt(row.verified_sequence);
  return {
    chainId,
    status: row.status,
    headSequence: head,
    verifiedSequence: verified,
    verifiedHash: row.verified_hash ? toHex(new Uint8Array(row.verified_hash)) : null,
    verifiedSealedAtMs: row.sealed_at_ms === null ? null : BigInt(row.sealed_at_ms),
    lagRecords: head > verified ? head - verified : 0n,
    brokenSequence: row.broken_sequence === null ? null : BigInt(row.broken_sequence),
    brokenReason: row.broken_reason,
    brokenMessage: row.broken_message,
    updatedAt: row.updated_at,
  };
}

/** Chains this database holds (projected at least once). */
export async function listChains(pool: pg.Pool): Promise<string[]> {
  const r = await pool.query<{ chain_id: string }>('SELECT chain_id FROM chain_status ORDER BY chain_id');
  return r.rows.map((x) => x.chain_id);
}
