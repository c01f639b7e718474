/**
 * Verifies the live chain stream from a tree anchor (genesis, or the
 * archive anchor after a purge): every hash recomputed from the bodies, the
 * header claims compared, and every signed checkpoint after the anchor
 * reproduced (head and RFC 9162 root) by the records. Never throws for a bad
 * chain: the first failure is returned, naming the sequence and the reason.
 *
 * The chain stream is authoritative: it must hold every record up to the
 * newest signed checkpoint. A checkpoint beyond its last record — in the
 * checkpoint log, the latest one in KV, or one the caller requires (the
 * fleet anchor's entries) — is `truncated` (threat: the newest records
 * dropped, or the stream recreated shorter or empty, after they were
 * checkpointed; what is left is internally consistent). A missing stream
 * fails too when anything of it was checkpointed (`truncated`) or archived
 * (`anchor_mismatch`, as a stream that ends before its anchor).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { ChainVerifier, constantTimeEqual, genesisHash, hashFromHex, toHex, type NoteVerifier } from '@hwledger/chain';
import { HEADERS, HwlError, streams } from '@hwledger/core';
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
 * else genesis) to its head, checking every checkpoint after the anchor —
 * all of them must be covered by the stream (`truncated` otherwise).
 * `require`: more signed checkpoints of this chain that must be covered
 * (e.g. the fleet anchor's entries), checked like those of the log.
 * `checkpoints: false` checks the records only (no checkpoint at all).
 */
export async function verifyLiveFromAnchor(
  nc: NatsConnection,
  chainId: string,
  opts: { anchor?: TreeAnchor; trusted?: NoteVerifier[]; checkpoints?: boolean; require?: readonly ExpectedCheckpoint[] } = {},
): Promise<LiveReport> {
  const trusted = opts.trusted ?? [];
  const archiveAnchor = opts.anchor === undefined ? await loadArchiveAnchor(nc, chainId, trusted) : undefined;
  const anchor = opts.anchor ?? archiveAnchor ?? genesisTreeAnchor(chainId);
  // Every checkpoint counts, not only those up to the stream head: one beyond
  // it is the evidence of a truncated stream. They are read *before* the
  // stream state: a checkpoint is issued only after its records are stored,
  // so one issued while this runs cannot be beyond the head read next.
  const expected: ExpectedCheckpoint[] = [];
  if (opts.checkpoints !== false) {
    const cpl = await CheckpointLog.open(nc, chainId);
    try {
      for await (const c of cpl.all()) {
        if (c.checkpoint.sequence > anchor.sequence) expected.push({ note: c.note, source: `checkpoint #${c.streamSeq}` });
      }
    } catch (e) {
      // A malformed message in the log (anyone who may publish there can write one) is a failure of
      // this chain, reported like any other, not an exception that ends the whole verification (and,
      // under verify --fleet, every other region's report with it).
      if (!(e instanceof HwlError && e.code === 'INTEGRITY')) throw e;
      expected.push({ note: '', source: `the checkpoint log (unreadable: ${e.message})` });
    }
    // The KV copy of the latest checkpoint outlives a checkpoint log that was cut back with the chain.
    let kv: { note: string } | undefined;
    try {
      kv = await cpl.kvLatest();
    } catch (e) {
      // A malformed KV copy is a failure of this chain (not a checkpoint to skip); other errors propagate.
      if (!(e instanceof HwlError && e.code === 'INTEGRITY')) throw e;
      expected.push({ note: '', source: `latest checkpoint in KV (unreadable: ${e.message})` });
    }
    if (kv) expected.push({ note: kv.note, source: 'latest checkpoint in KV' });
    expected.push(...(opts.require ?? []));
  }
  const v = new SegmentVerifier(anchor, expected, trusted);
  let state: { first: bigint; last: bigint; messages: number };
  try {
    state = await chainStreamState(nc, chainId);
  } catch (e) {
    if (!(e instanceof HwlError && e.code === 'NOT_FOUND')) throw e;
    // The stream is gone (threat: deleted after its records were checkpointed): a failure when
    // any checkpoint of it exists (`truncated`) or it was archived (`anchor_mismatch`, below);
    // with neither, it is simply not there (NOT_FOUND, as before).
    const name = streams.chain(chainId);
    const r = v.finish({ ends: `the chain stream ${name} does not exist; verified records end` });
    if (!r.ok) return { chainId, anchor, head: 0n, result: r };
    if (anchor.sequence === 0n) throw e;
    // Archival never purges the last record, so the stream of a chain archived up to the anchor
    // still holds what follows it: a missing one fails as a stream that ends before its anchor.
    const f = v.fail(anchor.sequence + 1n, 'anchor_mismatch', `the chain stream ${name} does not exist, before the anchor at ${anchor.sequence}`);
    return { chainId, anchor, head: 0n, result: f };
  }
  // Records at or before the archive anchor that the stream still holds (`archive --keep`, or a cut
  // the projector had not passed when it was archived): the projector reads and bills them from
  // here, so they are verified too (found in a review: they were skipped, and a rewritten one
  // passed). The anchor's hash, signed, commits to every record up to it: recomputed forward from
  // the first one held (genesis, or that record's own prev-hash claim), the chain must arrive at it.
  if (archiveAnchor !== undefined && state.messages > 0 && state.first <= anchor.sequence) {
    await verifyHeldPrefix(nc, chainId, state.first, anchor, v);
  }
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
  return { chainId, anchor, head: state.last, result: v.finish({ ends: 'the chain stream ends' }) };
}

/**
 * Verifies the records first..anchor.sequence still held by the stream: the
 * hash chain recomputed from genesis (first = 1) or from record `first`'s
 * Hwl-Prev-Hash claim, and its hash at the anchor equal to the anchor's
 * (SHA-256 chaining: no other records reach it from any start). A failure is
 * recorded in `v`.
 */
async function verifyHeldPrefix(nc: NatsConnection, chainId: string, first: bigint, anchor: TreeAnchor, v: SegmentVerifier): Promise<void> {
  let chain: ChainVerifier | undefined;
  for await (const e of readChain(nc, chainId, { fromSeq: first, toSeq: anchor.sequence })) {
    if (chain === undefined) {
      const start = e.sequence === 1n ? genesisHash(chainId) : claim(e.headers?.get(HEADERS.prevHash));
      if (start === undefined || start.length !== 32) {
        v.fail(e.sequence, 'anchor_mismatch', `record ${e.sequence} (held before the archive anchor at ${anchor.sequence}) has no readable Hwl-Prev-Hash to verify it from`);
        return;
      }
      chain = new ChainVerifier({ chainId, sequence: e.sequence - 1n, hash: start });
    }
    const f = chain.push({ canonical: e.canonical, sequence: e.sequence, hash: claim(e.headers?.get(HEADERS.hash)), prevHash: claim(e.headers?.get(HEADERS.prevHash)) });
    if (f) {
      v.fail(f.sequence, f.reason, `${f.message} (a record held before the archive anchor at ${anchor.sequence})`);
      return;
    }
  }
  if (chain === undefined || chain.head.sequence !== anchor.sequence) {
    v.fail(chain ? chain.head.sequence + 1n : first, 'gap', `the stream holds records from ${first} but not up to the archive anchor at ${anchor.sequence}`);
    return;
  }
  if (!constantTimeEqual(chain.head.hash, anchor.hash)) {
    v.fail(anchor.sequence, 'anchor_mismatch', `the records held from ${first} hash to ${toHex(chain.head.hash)} at ${anchor.sequence}, the archive anchor (signed) is ${toHex(anchor.hash)}: a record before the anchor was changed`);
  }
}
