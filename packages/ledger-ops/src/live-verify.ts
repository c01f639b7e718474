/**
 * Verifies the live chain stream from a tree anchor (genesis, or the
 * archive anchor after a purge): every hash recomputed from the bodies, the
 * header claims compared, and every signed checkpoint after the anchor
 * reproduced (head and RFC 9162 root) by the records. Never throws for a bad
 * chain: the first failure is returned, naming the sequence and the reason.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { hashFromHex, type NoteVerifier } from '@hwledger/chain';
import { HEADERS, HwlError } from '@hwledger/core';
import { chainStreamState, readChain } from '@hwledger/sequencer';
import { CheckpointLog } from './checkpoint-log.js';
import { kvKeys } from './names.js';
import { SegmentVerifier, type ExpectedCheckpoint, type SegmentFailure, type SegmentVerifySuccess } from './segment-verifier.js';
import { checkTreeAnchor, genesisTreeAnchor, treeAnchorFromJson, type TreeAnchor, type TreeAnchorJson } from './tree-anchor.js';

function claim(v: string | undefined): Uint8Array | undefined {
  if (v === undefined || v === '') return undefined;
  try {
    return hashFromHex(v);
  } catch {
    return new Uint8Array(0);
  }
}

/** The archive anchor of a chain from KV (undefined when nothing was archived), checked with the keys. */
export async function loadArchiveAnchor(nc: NatsConnection, chainId: string, trusted: readonly NoteVerifier[] = []): Promise<TreeAnchor | undefined> {
  const cpl = await CheckpointLog.open(nc, chainId);
  const j = await cpl.getJson<TreeAnchorJson>(kvKeys.anchor(chainId));
  if (!j) return undefined;
  const a = treeAnchorFromJson(j, `archive anchor of ${chainId}`);
  if (a.chainId !== chainId) throw new HwlError('INTEGRITY', `archive anchor of ${chainId} names chain ${a.chainId}`);
  checkTreeAnchor(a, trusted);
  return a;
}

export interface LiveReport {
  chainId: string;
  anchor: TreeAnchor;
  /** Stream head when verification started. */
  head: bigint;
  result: SegmentVerifySuccess | SegmentFailure;
}

/**
 * Verifies the live chain from `anchor` (default: the archive anchor in KV,
 * else genesis) to its head, checking every checkpoint after the anchor.
 */
export async function verifyLiveFromAnchor(nc: NatsConnection, chainId: string, opts: { anchor?: TreeAnchor; trusted?: NoteVerifier[]; checkpoints?: boolean } = {}): Promise<LiveReport> {
  const trusted = opts.trusted ?? [];
  const anchor = opts.anchor ?? (await loadArchiveAnchor(nc, chainId, trusted)) ?? genesisTreeAnchor(chainId);
  const state = await chainStreamState(nc, chainId);
  const expected: ExpectedCheckpoint[] = [];
  if (opts.checkpoints !== false) {
    const cpl = await CheckpointLog.open(nc, chainId);
    for await (const c of cpl.all()) {
      if (c.checkpoint.sequence > anchor.sequence && c.checkpoint.sequence <= state.last) expected.push({ note: c.note, source: `checkpoint #${c.streamSeq}` });
    }
  }
  const v = new SegmentVerifier(anchor, expected, trusted);
  if (state.messages > 0 && state.first > anchor.sequence + 1n) {
    v.fail(anchor.sequence + 1n, 'gap', `records ${anchor.sequence + 1n}..${state.first - 1n} are not in the stream and the anchor is at ${anchor.sequence} (archived without an anchor?)`);
  }
  if (!v.failed && state.last > anchor.sequence) {
    for await (const e of readChain(nc, chainId, { fromSeq: anchor.sequence + 1n, toSeq: state.last })) {
      if (v.pushEntry({ canonical: e.canonical, sequence: e.sequence, hash: claim(e.headers?.get(HEADERS.hash)), prevHash: claim(e.headers?.get(HEADERS.prevHash)) })) break;
    }
    if (!v.failed && v.expected <= state.last) v.fail(v.expected, 'gap', `expected sequence ${v.expected}, the stream ended`);
  }
  if (!v.failed && state.last < anchor.sequence) v.fail(state.last + 1n, 'anchor_mismatch', `chain ends at ${state.last}, before the anchor at ${anchor.sequence}`);
  return { chainId, anchor, head: state.last, result: v.finish() };
}
