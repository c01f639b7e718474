/**
 * Live mode of `hwledger verify` (no --file): verifies the chain stream
 * HWL_CHAIN_<chain> from genesis or a trusted anchor up to the head found at
 * start, recomputing every hash from the message bodies (spec: "Hash
 * chain"). The Hwl-Hash / Hwl-Prev-Hash headers and the stream sequence are
 * passed as claims and must agree with what is recomputed (threat: a broker
 * operator who edits bodies and patches headers, or deletes and republishes
 * messages, is named at the first bad sequence). Same result type as file
 * mode, so output and exit codes are shared.
 *
 * The command (`runLiveVerify`) and the programmatic form (`verifyLiveChain`)
 * share one implementation: `startLive` (stream extent, anchor checks) and
 * `liveInputs` (the records, ending in a gap when the read stops short of
 * the head). Threat: someone allowed to purge the chain stream (purge is
 * allowed on chain streams, single deletes are not) removes every record
 * after the anchor, or the newest records of one subject; the stream's last
 * sequence (the head) survives a purge, so a read that ends before it is a
 * gap, never "verified 0 records". Only a stream whose last sequence is 0
 * (nothing ever sealed) verifies with 0 records from genesis; a deleted and
 * recreated stream is caught only by an --anchor from a trusted checkpoint.
 */
import { ChainVerifier, chainHash, constantTimeEqual, genesisAnchor, hashFromHex, toHex, type Anchor, type VerifyFailure, type VerifyResult } from '@hwledger/chain';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, HEADERS, HwlError, resolveChainId, resolveNatsUrl, streams } from '@hwledger/core';
import { chainStreamExtent, readChain, type ChainStreamExtent } from '@hwledger/sequencer';
import { ExitError } from '../exit-error.js';
import { formatVerifyFailure, runVerify, VerifyInputError, type LocatedInput } from './verify-run.js';
import { parseAnchorOption } from './verify-file.js';

export interface LiveVerifyOptions {
  natsUrl: string;
  chainId: string;
  /** Trusted starting point (default genesis). */
  anchor?: Anchor;
  /** Called every `progressEvery` records (default 10,000) with the count verified so far. */
  onProgress?: (verified: number, head: bigint) => void;
  progressEvery?: number;
}

export interface LiveVerifyResult {
  result: VerifyResult;
  /** The stream head when verification started. */
  head: bigint;
}

/**
 * The read stopped before the stream's head: records were purged or are
 * missing. Carries the `gap` failure at the first missing sequence.
 */
export class ChainStreamGapError extends HwlError {
  constructor(readonly failure: VerifyFailure) {
    super('INTEGRITY', failure.message);
  }
}

/** A Hwl-Hash / Hwl-Prev-Hash header that is not a hash; `failure` names it (hash_mismatch / broken_link). */
class ClaimError extends VerifyInputError {
  constructor(
    override readonly failure: VerifyFailure,
    where: string,
  ) {
    super(failure.message, where, failure);
  }
}

function claim(value: string | undefined, name: string, sequence: bigint, verified: number): Uint8Array | VerifyFailure | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    return hashFromHex(value, name);
  } catch {
    return {
      ok: false,
      sequence,
      reason: name === HEADERS.hash ? 'hash_mismatch' : 'broken_link',
      message: `${name} header ${JSON.stringify(value.slice(0, 80))} is not a lowercase hex SHA-256`,
      verified,
    };
  }
}

const isFailure = (v: unknown): v is VerifyFailure => typeof v === 'object' && v !== null && (v as { ok?: unknown }).ok === false;

/** Checks before reading: the stream's extent, and the anchor against the head and its own record. */
async function startLive(nc: NatsConnection, chainId: string, anchor: Anchor): Promise<{ extent: ChainStreamExtent; failure?: VerifyFailure }> {
  const extent = await chainStreamExtent(nc, chainId);
  const { head } = extent;
  if (head < anchor.sequence) {
    return { extent, failure: { ok: false, sequence: head + 1n, reason: 'anchor_mismatch', message: `chain ends at ${head}, before the anchor at ${anchor.sequence}`, verified: 0 } };
  }
  if (anchor.sequence > 0n) {
    // The anchored record itself, when still in the stream, must hash to the anchor.
    const m = await (await jetstreamManager(nc)).streams.getMessage(streams.chain(chainId), { seq: Number(anchor.sequence) });
    const prev = claim(m?.header?.get(HEADERS.prevHash), HEADERS.prevHash, anchor.sequence, 0);
    if (m && prev && !isFailure(prev) && !constantTimeEqual(chainHash(prev, m.data), anchor.hash)) {
      return {
        extent,
        failure: { ok: false, sequence: anchor.sequence, reason: 'anchor_mismatch', message: `record ${anchor.sequence} does not hash to the anchor ${toHex(anchor.hash)}`, verified: 0 },
      };
    }
  }
  return { extent };
}

/**
 * The chain stream after `anchor` as verifier inputs: body + header claims +
 * stream sequence, read up to the last record held. The verifier names a
 * record missing before or between those read (its canonical sequence is
 * not the one expected); when the read ends short of the head, this throws
 * ChainStreamGapError at the first missing sequence. A consumer that stops
 * early (a failed record) closes it before that check.
 */
async function* liveInputs(nc: NatsConnection, chainId: string, anchor: Anchor, extent: ChainStreamExtent, counter: { n: number }): AsyncGenerator<LocatedInput> {
  let last = anchor.sequence;
  if (extent.lastHeld > anchor.sequence) {
    for await (const e of readChain(nc, chainId, { fromSeq: anchor.sequence + 1n, toSeq: extent.lastHeld })) {
      const where = `${streams.chain(chainId)} message ${e.sequence}`;
      const hash = claim(e.headers?.get(HEADERS.hash), HEADERS.hash, e.sequence, counter.n);
      if (isFailure(hash)) throw new ClaimError(hash, where);
      const prevHash = claim(e.headers?.get(HEADERS.prevHash), HEADERS.prevHash, e.sequence, counter.n);
      if (isFailure(prevHash)) throw new ClaimError(prevHash, where);
      counter.n++;
      last = e.sequence;
      yield { canonical: e.canonical, sequence: e.sequence, hash, prevHash, where };
    }
  }
  if (last < extent.head) {
    const missing = last + 1n;
    throw new ChainStreamGapError({
      ok: false,
      sequence: missing,
      reason: 'gap',
      message: `expected sequence ${missing}, the stream holds nothing from ${missing} to its head ${extent.head} (purged or missing records)`,
      verified: counter.n,
    });
  }
}

/** Verifies the live chain stream; never throws for a bad chain (only for NATS trouble). */
export async function verifyLiveChain(opts: LiveVerifyOptions): Promise<LiveVerifyResult> {
  const anchor = opts.anchor ?? genesisAnchor(opts.chainId);
  const nc = await connectNats(opts.natsUrl, 'hwledger-verify', { maxReconnectAttempts: 10 });
  try {
    const { extent, failure } = await startLive(nc, opts.chainId, anchor);
    const head = extent.head;
    if (failure) return { head, result: failure };
    const v = new ChainVerifier(anchor);
    const every = opts.progressEvery ?? 10_000;
    try {
      for await (const e of liveInputs(nc, opts.chainId, anchor, extent, { n: 0 })) {
        if (v.push(e)) break;
        if (opts.onProgress && v.verified % every === 0) opts.onProgress(v.verified, head);
      }
    } catch (e) {
      if (e instanceof ChainStreamGapError) return { head, result: e.failure };
      if (e instanceof ClaimError) return { head, result: { ...e.failure, verified: v.verified } };
      throw e;
    }
    return { head, result: v.result() };
  } finally {
    await nc.close().catch(() => undefined);
  }
}

export interface LiveVerifyCliOptions {
  nats?: string;
  chain?: string;
  anchor?: string;
}

/**
 * `hwledger verify` without --file: the live chain stream through the same
 * runVerify as file mode (same verdict line, progress bar and exit codes),
 * with the same checks as verifyLiveChain (startLive, liveInputs).
 */
export async function runLiveVerify(o: LiveVerifyCliOptions): Promise<void> {
  const chainId = resolveChainId(o.chain);
  const anchor = o.anchor === undefined ? genesisAnchor(chainId) : parseAnchorOption(o.anchor, chainId);
  const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-verify', { maxReconnectAttempts: 10 });
  try {
    const fail = (f: VerifyFailure): never => {
      process.stdout.write(`${formatVerifyFailure(f, streams.chain(chainId))}\n`);
      throw new ExitError(1, '');
    };
    const { extent, failure } = await startLive(nc, chainId, anchor);
    if (failure) fail(failure);
    const counter = { n: 0 };
    try {
      await runVerify(liveInputs(nc, chainId, anchor, extent, counter), anchor, {
        source: `stream ${streams.chain(chainId)}`,
        progress: { total: Number(extent.head - anchor.sequence), done: () => counter.n },
      });
    } catch (e) {
      if (e instanceof ChainStreamGapError) fail(e.failure);
      throw e;
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
}
