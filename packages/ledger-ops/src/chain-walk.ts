/**
 * Reads a chain stream from a trusted anchor, recomputing every hash
 * (spec: "Hash chain"): the stream's bodies are facts, its Hwl-Hash /
 * Hwl-Prev-Hash headers and sequences are claims that must agree. The first
 * disagreement is an INTEGRITY error naming the sequence and the reason.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { ChainVerifier, hashFromHex, type Anchor, type ChainRecord, type VerifyFailure } from '@hwledger/chain';
import { HEADERS, HwlError } from '@hwledger/core';
import { chainStreamState, readChain } from '@hwledger/sequencer';

export interface WalkedRecord {
  sequence: bigint;
  canonical: Uint8Array;
  hash: Uint8Array;
  prevHash: Uint8Array;
  record: ChainRecord;
  subject: string;
}

export class ChainIntegrityError extends HwlError {
  constructor(readonly failure: VerifyFailure) {
    super('INTEGRITY', `sequence ${failure.sequence}: ${failure.reason}: ${failure.message}`);
  }
}

function claim(v: string | undefined): Uint8Array | undefined {
  if (v === undefined || v === '') return undefined;
  try {
    return hashFromHex(v);
  } catch {
    return new Uint8Array(0); // a malformed claim never matches
  }
}

export interface WalkOptions {
  /** Last sequence to read (default: the head when reading starts). */
  toSeq?: bigint;
  /** Keep following new records. */
  follow?: boolean;
  signal?: AbortSignal;
}

/** Yields the records after `anchor`, each verified to extend the one before. */
export async function* walkChain(nc: NatsConnection, anchor: Anchor, opts: WalkOptions = {}): AsyncGenerator<WalkedRecord> {
  const chainId = anchor.chainId;
  const state = await chainStreamState(nc, chainId);
  const from = anchor.sequence + 1n;
  if (state.messages > 0 && state.first > from) {
    throw new HwlError('NOT_FOUND', `chain ${chainId}: records ${from}..${state.first - 1n} are no longer in the stream (archived); start from the archive anchor`);
  }
  const to = opts.follow ? undefined : (opts.toSeq ?? state.last);
  if (to !== undefined && to < from) return;
  if (to !== undefined && to > state.last) throw new HwlError('NOT_FOUND', `chain ${chainId} ends at ${state.last}, not ${to}`);
  const v = new ChainVerifier(anchor);
  const it = readChain(nc, chainId, { fromSeq: from, toSeq: to, follow: opts.follow, signal: opts.signal });
  for await (const e of it) {
    const prevHash = v.head.hash;
    const failed = v.push({ canonical: e.canonical, sequence: e.sequence, hash: claim(e.headers?.get(HEADERS.hash)), prevHash: claim(e.headers?.get(HEADERS.prevHash)) });
    if (failed) throw new ChainIntegrityError(failed);
    yield { sequence: e.sequence, canonical: e.canonical, hash: v.head.hash, prevHash, record: v.lastRecord!, subject: e.subject };
  }
  if (to !== undefined && !opts.signal?.aborted && v.expected <= to) {
    throw new ChainIntegrityError({ ok: false, sequence: v.expected, reason: 'gap', message: `expected sequence ${v.expected}, the stream ended`, verified: v.verified });
  }
}
