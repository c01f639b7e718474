/**
 * Offline proof bundles (issue 6): everything an auditor or a billing
 * consumer needs to check one record, or the consistency of two
 * checkpoints, with nothing but the chain's verifier key:
 *
 *   inclusion:   the signed checkpoint note, the record's canonical bytes and
 *                prev_hash, and the RFC 9162 inclusion proof of its
 *                current_hash = SHA-256(prev_hash || canonical) at leaf
 *                index sequence-1 in the tree of size = checkpoint sequence;
 *   consistency: two signed notes and the RFC 9162 consistency proof.
 *
 * Verification trusts nothing in the bundle but what the key signs: the
 * decoded record's chain and sequence must match the checkpoint and the
 * claimed position, the claimed hash is recomputed, and the head record
 * (sequence = tree size) must equal the signed head. Pure: no I/O, so it can
 * run in a browser.
 */
import {
  chainHash,
  constantTimeEqual,
  decodeRecord,
  fromHex,
  hashFromHex,
  recordToJson,
  toHex,
  verifyCheckpoint,
  verifyConsistency,
  verifyRecordInclusion,
  type ChainRecord,
  type NoteVerifier,
  type RecordJson,
} from '@hwledger/chain';
import { HwlError } from '@hwledger/core';

export const INCLUSION_BUNDLE = 'hwledger.inclusion-proof.v1';
export const CONSISTENCY_BUNDLE = 'hwledger.consistency-proof.v1';

export interface InclusionBundle {
  type: typeof INCLUSION_BUNDLE;
  chain_id: string;
  sequence: string;
  tree_size: string;
  /** Signed checkpoint note (C2SP signed-note text). */
  checkpoint: string;
  record: { canonical: string; prev_hash: string; hash: string };
  inclusion_proof: string[];
  /** The decoded record, for people; verifiers ignore it. */
  decoded?: RecordJson;
}

export interface ConsistencyBundle {
  type: typeof CONSISTENCY_BUNDLE;
  chain_id: string;
  old_checkpoint: string;
  new_checkpoint: string;
  consistency_proof: string[];
}

export type ProofBundle = InclusionBundle | ConsistencyBundle;

export function makeInclusionBundle(a: {
  note: string;
  chainId: string;
  sequence: bigint;
  treeSize: bigint;
  canonical: Uint8Array;
  prevHash: Uint8Array;
  hash: Uint8Array;
  proof: Uint8Array[];
  record?: ChainRecord;
}): InclusionBundle {
  const b: InclusionBundle = {
    type: INCLUSION_BUNDLE,
    chain_id: a.chainId,
    sequence: a.sequence.toString(),
    tree_size: a.treeSize.toString(),
    checkpoint: a.note,
    record: { canonical: toHex(a.canonical), prev_hash: toHex(a.prevHash), hash: toHex(a.hash) },
    inclusion_proof: a.proof.map(toHex),
  };
  if (a.record) b.decoded = recordToJson(a.record);
  return b;
}

export function makeConsistencyBundle(a: { chainId: string; oldNote: string; newNote: string; proof: Uint8Array[] }): ConsistencyBundle {
  return { type: CONSISTENCY_BUNDLE, chain_id: a.chainId, old_checkpoint: a.oldNote, new_checkpoint: a.newNote, consistency_proof: a.proof.map(toHex) };
}

export function parseProofBundle(text: string): ProofBundle {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new HwlError('INVALID_ARGUMENT', 'proof bundle is not JSON');
  }
  const b = o as { type?: unknown } | null;
  if (!b || typeof b !== 'object' || (b.type !== INCLUSION_BUNDLE && b.type !== CONSISTENCY_BUNDLE)) {
    throw new HwlError('INVALID_ARGUMENT', `proof bundle type must be ${INCLUSION_BUNDLE} or ${CONSISTENCY_BUNDLE}`);
  }
  return b as unknown as ProofBundle;
}

export interface VerifiedInclusion {
  type: typeof INCLUSION_BUNDLE;
  chainId: string;
  sequence: bigint;
  treeSize: bigint;
  hash: Uint8Array;
  record: ChainRecord;
  verifiedBy: string[];
}

export interface VerifiedConsistency {
  type: typeof CONSISTENCY_BUNDLE;
  chainId: string;
  oldSize: bigint;
  newSize: bigint;
  verifiedBy: string[];
}

function bad(message: string): HwlError {
  return new HwlError('INTEGRITY', message);
}

function hashes(list: unknown, what: string): Uint8Array[] {
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw bad(`${what} must be a list of hex hashes`);
  return list.map((x: string, i) => {
    try {
      return hashFromHex(x, `${what}[${i}]`);
    } catch (e) {
      throw bad(e instanceof Error ? e.message : String(e));
    }
  });
}

function checkNote(note: unknown, keys: readonly NoteVerifier[], what: string) {
  if (typeof note !== 'string') throw bad(`${what} must be a signed note`);
  try {
    return verifyCheckpoint(note, keys);
  } catch (e) {
    throw bad(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export interface VerifyBundleOptions {
  /**
   * The chain the bundle must be of. Unbound keys are then trusted for this
   * chain only, and a bundle of any other chain is refused.
   */
  chainId?: string;
}

/**
 * Verifies a bundle with nothing but trusted keys; throws HwlError INTEGRITY
 * naming what failed. A key bound to chains (NoteVerifier.chains) verifies
 * only checkpoints of those chains (threat: the holder of one region's key
 * signing a bundle of another region's chain). Unbound keys verify any
 * chain unless `opts.chainId` names the one expected; with the keys of
 * several regions, bind them or name the chain (the CLI refuses otherwise).
 */
export function verifyProofBundle(bundle: ProofBundle, keys: readonly NoteVerifier[], opts: VerifyBundleOptions = {}): VerifiedInclusion | VerifiedConsistency {
  if (keys.length === 0) throw new HwlError('CONFIG', 'verifying a proof bundle needs at least one trusted key (--key)');
  if (opts.chainId !== undefined) {
    // Every checkpoint must then be of this chain too (checked below), so an unbound key verifies it only.
    if (bundle.chain_id !== opts.chainId) throw bad(`bundle is for chain ${String(bundle.chain_id)}, expected ${opts.chainId}`);
  }
  if (bundle.type === CONSISTENCY_BUNDLE) {
    const a = checkNote(bundle.old_checkpoint, keys, 'old checkpoint');
    const b = checkNote(bundle.new_checkpoint, keys, 'new checkpoint');
    const ca = a.checkpoint;
    const cb = b.checkpoint;
    if (ca.chainId !== cb.chainId || ca.chainId !== bundle.chain_id) throw bad(`checkpoints are for chains ${ca.chainId} and ${cb.chainId}, bundle says ${bundle.chain_id}`);
    try {
      verifyConsistency(ca.sequence, cb.sequence, hashes(bundle.consistency_proof, 'consistency_proof'), ca.rootHash, cb.rootHash);
    } catch (e) {
      throw bad(`checkpoint at ${cb.sequence} is not consistent with the one at ${ca.sequence}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (ca.sequence === cb.sequence && !constantTimeEqual(ca.headHash, cb.headHash)) throw bad(`two checkpoints at ${ca.sequence} with different heads`);
    return { type: CONSISTENCY_BUNDLE, chainId: ca.chainId, oldSize: ca.sequence, newSize: cb.sequence, verifiedBy: [...new Set([...a.verifiedBy, ...b.verifiedBy])] };
  }
  const v = checkNote(bundle.checkpoint, keys, 'checkpoint');
  const cp = v.checkpoint;
  if (cp.chainId !== bundle.chain_id) throw bad(`checkpoint is for chain ${cp.chainId}, bundle says ${bundle.chain_id}`);
  if (typeof bundle.record !== 'object' || bundle.record === null) throw bad('record is missing');
  let canonical: Uint8Array;
  let prevHash: Uint8Array;
  try {
    canonical = fromHex(String(bundle.record.canonical), 'record.canonical');
    prevHash = hashFromHex(String(bundle.record.prev_hash), 'record.prev_hash');
  } catch (e) {
    throw bad(e instanceof Error ? e.message : String(e));
  }
  let record: ChainRecord;
  try {
    record = decodeRecord(canonical);
  } catch (e) {
    throw bad(`record does not decode: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (record.chainId !== cp.chainId) throw bad(`record belongs to chain ${record.chainId}, the checkpoint to ${cp.chainId}`);
  if (record.sequence.toString() !== bundle.sequence) throw bad(`record's canonical sequence ${record.sequence} differs from the bundle's ${bundle.sequence}`);
  if (record.sequence > cp.sequence || record.sequence < 1n) throw bad(`record ${record.sequence} is outside the checkpoint's tree of ${cp.sequence} records`);
  if (bundle.tree_size !== undefined && bundle.tree_size !== cp.sequence.toString()) throw bad(`bundle tree_size ${bundle.tree_size} differs from the signed ${cp.sequence}`);
  const hash = chainHash(prevHash, canonical);
  if (bundle.record.hash !== undefined && bundle.record.hash !== toHex(hash)) throw bad(`record hash ${bundle.record.hash} differs from the recomputed ${toHex(hash)}`);
  if (record.sequence === cp.sequence && !constantTimeEqual(hash, cp.headHash)) throw bad(`record ${record.sequence} is the checkpoint's head but hashes to ${toHex(hash)}, not ${toHex(cp.headHash)}`);
  try {
    verifyRecordInclusion(record.sequence, hash, cp.sequence, hashes(bundle.inclusion_proof, 'inclusion_proof'), cp.rootHash);
  } catch (e) {
    throw bad(`record ${record.sequence} is not in the signed tree of ${cp.sequence} records: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { type: INCLUSION_BUNDLE, chainId: cp.chainId, sequence: record.sequence, treeSize: cp.sequence, hash, record, verifiedBy: v.verifiedBy };
}
