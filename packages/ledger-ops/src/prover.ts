/**
 * Proofs against the live chain: keeps a FileMerkleStore per chain in a tree
 * directory, brought up to date from the chain stream (every hash recomputed
 * from an anchor, see chain-walk.ts) before each proof, and checks that the
 * store reproduces the signed root before it proves anything against it
 * (threat: a stale or corrupted store, or a chain that differs from what was
 * checkpointed, would otherwise yield proofs that fail far from the cause).
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { chainHash, constantTimeEqual, decodeRecord, genesisHash, hashFromHex, merkleLeafHash, toHex, verifyConsistency, type NoteVerifier } from '@hwledger/chain';
import { HEADERS, HwlError, streams, silentLogger } from '@hwledger/core';
import { chainStreamState } from '@hwledger/sequencer';
import { CheckpointLog, type StoredCheckpoint } from './checkpoint-log.js';
import { walkChain } from './chain-walk.js';
import { withDirLock } from './dir-lock.js';
import { FileMerkleStore } from './file-merkle-store.js';
import { kvKeys } from './names.js';
import { makeConsistencyBundle, makeInclusionBundle, verifyProofBundle, type ConsistencyBundle, type InclusionBundle } from './proof-bundle.js';
import { checkTreeAnchor, treeAnchorFromJson, type TreeAnchorJson } from './tree-anchor.js';

export interface ProverContext {
  nc: NatsConnection;
  chainId: string;
  /** Directory of tree stores (one sub-directory per chain). */
  treeDir: string;
  /** Keys the checkpoints must be signed by (the bundle is self-checked with them when given). */
  trusted?: NoteVerifier[];
  logger?: Logger;
}

/** Brings the chain's tree store up to `toSeq` records and runs `fn` on it (store locked meanwhile). */
export async function withSyncedTree<T>(ctx: ProverContext, toSeq: bigint, fn: (store: FileMerkleStore) => Promise<T> | T): Promise<T> {
  const dir = join(ctx.treeDir, ctx.chainId);
  const store = FileMerkleStore.open(dir, ctx.chainId);
  try {
    return await withDirLock(dir, async () => {
      await syncTree(ctx, store, toSeq);
      return fn(store);
    });
  } finally {
    store.close();
  }
}

async function syncTree(ctx: ProverContext, store: FileMerkleStore, toSeq: bigint): Promise<void> {
  const log = ctx.logger ?? silentLogger();
  if (store.size >= toSeq) return;
  if (store.size === 0n) {
    const state = await chainStreamState(ctx.nc, ctx.chainId);
    if (state.messages > 0 && state.first > 1n) {
      // The prefix is archived: start at the archive anchor kept in KV.
      const cpl = await CheckpointLog.open(ctx.nc, ctx.chainId);
      const j = await cpl.getJson<TreeAnchorJson>(kvKeys.anchor(ctx.chainId));
      if (!j) throw new HwlError('NOT_FOUND', `chain ${ctx.chainId} starts at ${state.first} but has no archive anchor in KV`);
      const anchor = treeAnchorFromJson(j, 'archive anchor');
      checkTreeAnchor(anchor, ctx.trusted ?? []);
      store.seed(anchor);
      log.info({ anchor: anchor.sequence.toString() }, 'tree store starts at the archive anchor');
    }
  }
  let n = 0;
  for await (const r of walkChain(ctx.nc, { chainId: ctx.chainId, sequence: store.size, hash: store.headHash }, { toSeq })) {
    store.append(r.hash);
    if (++n % 65_536 === 0) store.flush();
  }
  store.flush();
}

async function checkpointFor(cpl: CheckpointLog, which: bigint | 'latest'): Promise<StoredCheckpoint> {
  const c = which === 'latest' ? await cpl.latest() : await cpl.findBySize(which);
  if (!c) throw new HwlError('NOT_FOUND', which === 'latest' ? `chain ${cpl.chainId} has no checkpoint yet` : `chain ${cpl.chainId} has no checkpoint at tree size ${which}`);
  return c;
}

function checkRoot(store: FileMerkleStore, c: StoredCheckpoint): void {
  const ours = store.root(c.checkpoint.sequence);
  if (!constantTimeEqual(ours, c.checkpoint.rootHash)) {
    throw new HwlError('INTEGRITY', `the chain's Merkle root at ${c.checkpoint.sequence} is ${toHex(ours)}, but the checkpoint signs ${toHex(c.checkpoint.rootHash)}`);
  }
}

/** Inclusion proof bundle of record `sequence` against a checkpoint (default: the latest). */
export async function proveInclusion(ctx: ProverContext, sequence: bigint, checkpoint: bigint | 'latest' = 'latest'): Promise<InclusionBundle> {
  const cpl = await CheckpointLog.open(ctx.nc, ctx.chainId);
  const c = await checkpointFor(cpl, checkpoint);
  const size = c.checkpoint.sequence;
  if (sequence < 1n || sequence > size) {
    throw new HwlError('NOT_FOUND', `record ${sequence} is not covered by the checkpoint at ${size}${checkpoint === 'latest' ? ' (wait for the next checkpoint)' : ''}`);
  }
  const jsm = await jetstreamManager(ctx.nc);
  const m = await jsm.streams.getMessage(streams.chain(ctx.chainId), { seq: Number(sequence) }).catch(() => null);
  if (!m) throw new HwlError('NOT_FOUND', `record ${sequence} of ${ctx.chainId} is not in the chain stream (archived?)`);
  const bundle = await withSyncedTree(ctx, size, (store) => {
    checkRoot(store, c);
    const leaf = store.leafHash(sequence);
    if (!leaf) throw new HwlError('NOT_FOUND', `record ${sequence} is not in the tree store (archived before the store was built)`);
    const prevClaim = sequence === 1n ? undefined : m.header?.get(HEADERS.prevHash);
    const prevHash = sequence === 1n ? genesisHash(ctx.chainId) : prevClaim ? hashFromHex(prevClaim, HEADERS.prevHash) : undefined;
    if (!prevHash) throw new HwlError('INTEGRITY', `record ${sequence} has no ${HEADERS.prevHash} header`);
    const hash = chainHash(prevHash, m.data);
    if (!constantTimeEqual(merkleLeafHash(hash), leaf)) throw new HwlError('INTEGRITY', `record ${sequence} in the stream does not hash to the verified tree's leaf`);
    return makeInclusionBundle({
      note: c.note,
      chainId: ctx.chainId,
      sequence,
      treeSize: size,
      canonical: m.data,
      prevHash,
      hash,
      proof: store.inclusionProof(sequence, size),
      record: decodeRecord(m.data),
    });
  });
  if (ctx.trusted && ctx.trusted.length > 0) verifyProofBundle(bundle, ctx.trusted, { chainId: ctx.chainId });
  return bundle;
}

/** Consistency proof bundle between the checkpoints at tree sizes `from` and `to` (default: latest). */
export async function proveConsistency(ctx: ProverContext, from: bigint, to: bigint | 'latest' = 'latest'): Promise<ConsistencyBundle> {
  const cpl = await CheckpointLog.open(ctx.nc, ctx.chainId);
  const a = await checkpointFor(cpl, from);
  const b = await checkpointFor(cpl, to);
  if (b.checkpoint.sequence < a.checkpoint.sequence) throw new HwlError('INVALID_ARGUMENT', `--consistency A:B needs A <= B`);
  const bundle = await withSyncedTree(ctx, b.checkpoint.sequence, (store) => {
    checkRoot(store, b);
    if (a.checkpoint.sequence >= store.baseSequence) checkRoot(store, a);
    const proof = store.consistencyProof(a.checkpoint.sequence, b.checkpoint.sequence);
    verifyConsistency(a.checkpoint.sequence, b.checkpoint.sequence, proof, a.checkpoint.rootHash, b.checkpoint.rootHash);
    return makeConsistencyBundle({ chainId: ctx.chainId, oldNote: a.note, newNote: b.note, proof });
  });
  if (ctx.trusted && ctx.trusted.length > 0) verifyProofBundle(bundle, ctx.trusted, { chainId: ctx.chainId });
  return bundle;
}
