/**
 * A trusted point of a chain together with its Merkle tree: (chain, sequence,
 * current_hash of that record, compact range of the tree of records
 * 1..sequence) and, when it comes from one, the signed checkpoint note.
 * Everything after it can be verified and proved without the records before
 * it: this is what archival leaves behind (KV hwl_checkpoints, key
 * `<chain>.anchor`) and what an archive manifest records at each cut.
 */
import { constantTimeEqual, genesisHash, hashFromHex, parseSignedCheckpoint, rootFromCompactRange, toHex, verifyCheckpoint, type NoteVerifier } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';
import { decodeHashList, encodeHashList } from './hex-list.js';

export interface TreeAnchor {
  chainId: string;
  sequence: bigint;
  hash: Uint8Array;
  compact: Uint8Array[];
  /** Signed checkpoint note at `sequence` (absent for genesis). */
  note?: string | undefined;
}

export interface TreeAnchorJson {
  chain_id: string;
  sequence: string;
  hash: string;
  compact: string;
  note?: string;
}

export function genesisTreeAnchor(chainId: string): TreeAnchor {
  return { chainId, sequence: 0n, hash: genesisHash(chainId), compact: [] };
}

export function treeAnchorToJson(a: TreeAnchor): TreeAnchorJson {
  const j: TreeAnchorJson = { chain_id: a.chainId, sequence: a.sequence.toString(), hash: toHex(a.hash), compact: encodeHashList(a.compact) };
  if (a.note !== undefined) j.note = a.note;
  return j;
}

export function treeAnchorFromJson(j: unknown, what = 'anchor'): TreeAnchor {
  const o = j as Partial<TreeAnchorJson> | null;
  if (!o || typeof o !== 'object' || typeof o.chain_id !== 'string' || typeof o.sequence !== 'string' || !/^(0|[1-9][0-9]*)$/.test(o.sequence) || typeof o.hash !== 'string') {
    throw new HwlError('INTEGRITY', `${what}: malformed`);
  }
  let hash: Uint8Array;
  try {
    hash = hashFromHex(o.hash, `${what} hash`);
  } catch {
    throw new HwlError('INTEGRITY', `${what}: hash is not 64 lowercase hex digits`);
  }
  const a: TreeAnchor = { chainId: o.chain_id, sequence: BigInt(o.sequence), hash, compact: decodeHashList(o.compact ?? '', `${what} compact range`) };
  if (typeof o.note === 'string') a.note = o.note;
  return a;
}

/**
 * Checks an anchor: its compact range fits its size; when it carries a note
 * (always, except genesis), the note is for this chain, size and head, its
 * root is the compact range's root, and (given keys) it is signed by one.
 */
export function checkTreeAnchor(a: TreeAnchor, trusted: readonly NoteVerifier[] = []): void {
  const where = `anchor of chain ${a.chainId} at ${a.sequence}`;
  let root: Uint8Array;
  try {
    root = rootFromCompactRange(a.sequence, a.compact);
  } catch (e) {
    throw new HwlError('INTEGRITY', `${where}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (a.sequence === 0n) {
    if (!constantTimeEqual(a.hash, genesisHash(a.chainId))) throw new HwlError('INTEGRITY', `${where}: not the genesis hash`);
    return;
  }
  if (a.note === undefined) throw new HwlError('INTEGRITY', `${where}: carries no signed checkpoint`);
  let cp;
  try {
    cp = trusted.length > 0 ? verifyCheckpoint(a.note, trusted).checkpoint : parseSignedCheckpoint(a.note).checkpoint;
  } catch (e) {
    throw new HwlError('INTEGRITY', `${where}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (cp.chainId !== a.chainId || cp.sequence !== a.sequence) throw new HwlError('INTEGRITY', `${where}: its checkpoint is for ${cp.chainId} at ${cp.sequence}`);
  if (!constantTimeEqual(cp.headHash, a.hash)) throw new HwlError('INTEGRITY', `${where}: hash differs from the checkpoint head`);
  if (!constantTimeEqual(cp.rootHash, root)) throw new HwlError('INTEGRITY', `${where}: compact range differs from the checkpoint root`);
}
