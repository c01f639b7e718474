/**
 * Live mode of `hwledger verify` (no --file): verifies the chain stream
 * HWL_CHAIN_<chain> from genesis or a trusted anchor up to the head found at
 * start, recomputing every hash from the message bodies (spec: "Hash
 * chain"). The Hwl-Hash / Hwl-Prev-Hash headers and the stream sequence are
 * passed as claims and must agree with what is recomputed (threat: a broker
 * operator who edits bodies and patches headers, or deletes and republishes
 * messages, is named at the first bad sequence). Same result type as file
 * mode, so output and exit codes are shared.
 */
import { ChainVerifier, chainHash, constantTimeEqual, genesisAnchor, hashFromHex, toHex, type Anchor, type VerifyFailure, type VerifyResult } from '@hwledger/chain';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, HEADERS, resolveChainId, resolveNatsUrl, streams } from '@hwledger/core';
import { chainStreamState, readChain } from '@hwledger/sequencer';
import { ExitError } from '../main.js';
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

/** Verifies the live chain stream; never throws for a bad chain (only for NATS trouble). */
export async function verifyLiveChain(opts: LiveVerifyOptions): Promise<LiveVerifyResult> {
  const anchor = opts.anchor ?? genesisAnchor(opts.chainId);
  const nc = await connectNats(opts.natsUrl, 'hwledger-verify', { maxReconnectAttempts: 10 });
  try {
    const { last: head } = await chainStreamState(nc, opts.chainId);
    if (head < anchor.sequence) {
      return {
        head,
        result: { ok: false, sequence: head + 1n, reason: 'anchor_mismatch', message: `chain ends at ${head}, before the anchor at ${anchor.sequence}`, verified: 0 },
      };
    }
    if (anchor.sequence > 0n) {
      // The anchored record itself, when still in the stream, must hash to the anchor.
      const jsm = await jetstreamManager(nc);
      const m = await jsm.streams.getMessage(streams.chain(opts.chainId), { seq: Number(anchor.sequence) });
      const prevClaim = m?.header?.get(HEADERS.prevHash);
      if (m && prevClaim) {
        const prev = claim(prevClaim, HEADERS.prevHash, anchor.sequence, 0);
        if (!isFailure(prev) && prev && !constantTimeEqual(chainHash(prev, m.data), anchor.hash)) {
          return {
            head,
            result: { ok: false, sequence: anchor.sequence, reason: 'anchor_mismatch', message: `record ${anchor.sequence} does not hash to the anchor ${toHex(anchor.hash)}`, verified: 0 },
          };
        }
      }
    }
    const v = new ChainVerifier(anchor);
    const every = opts.progressEvery ?? 10_000;
    if (head > anchor.sequence) {
      for await (const e of readChain(nc, opts.chainId, { fromSeq: anchor.sequence + 1n, toSeq: head })) {
        const hash = claim(e.headers?.get(HEADERS.hash), HEADERS.hash, e.sequence, v.verified);
        if (isFailure(hash)) return { head, result: hash };
        const prevHash = claim(e.headers?.get(HEADERS.prevHash), HEADERS.prevHash, e.sequence, v.verified);
        if (isFailure(prevHash)) return { head, result: prevHash };
        if (v.push({ canonical: e.canonical, sequence: e.sequence, hash, prevHash })) break;
        if (opts.onProgress && v.verified % every === 0) opts.onProgress(v.verified, head);
      }
      // A stream that ends early (records missing at the head) is a gap too.
      if (!v.failed && v.expected <= head) {
        return { head, result: { ok: false, sequence: v.expected, reason: 'gap', message: `expected sequence ${v.expected}, the stream ended`, verified: v.verified } };
      }
    }
    return { head, result: v.result() };
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** The chain stream as verifier inputs: body + header claims + stream sequence. */
async function* liveEntries(nc: NatsConnection, chainId: string, from: bigint, to: bigint, counter: { n: number }): AsyncGenerator<LocatedInput> {
  for await (const e of readChain(nc, chainId, { fromSeq: from, toSeq: to })) {
    const where = `${streams.chain(chainId)} message ${e.sequence}`;
    const hash = claim(e.headers?.get(HEADERS.hash), HEADERS.hash, e.sequence, 0);
    const prevHash = claim(e.headers?.get(HEADERS.prevHash), HEADERS.prevHash, e.sequence, 0);
    if (isFailure(hash)) throw new VerifyInputError(hash.message, where);
    if (isFailure(prevHash)) throw new VerifyInputError(prevHash.message, where);
    counter.n++;
    yield { canonical: e.canonical, sequence: e.sequence, hash, prevHash, where };
  }
}

export interface LiveVerifyCliOptions {
  nats?: string;
  chain?: string;
  anchor?: string;
}

/**
 * `hwledger verify` without --file: the live chain stream through the same
 * runVerify as file mode (same verdict line, progress bar and exit codes).
 */
export async function runLiveVerify(o: LiveVerifyCliOptions): Promise<void> {
  const chainId = resolveChainId(o.chain);
  const anchor = o.anchor === undefined ? genesisAnchor(chainId) : parseAnchorOption(o.anchor, chainId);
  const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-verify', { maxReconnectAttempts: 10 });
  try {
    const { last: head } = await chainStreamState(nc, chainId);
    const fail = (f: VerifyFailure): never => {
      process.stdout.write(`${formatVerifyFailure(f, streams.chain(chainId))}\n`);
      throw new ExitError(1, '');
    };
    if (head < anchor.sequence) {
      fail({ ok: false, sequence: head + 1n, reason: 'anchor_mismatch', message: `chain ends at ${head}, before the anchor at ${anchor.sequence}`, verified: 0 });
    }
    if (anchor.sequence > 0n) {
      const m = await (await jetstreamManager(nc)).streams.getMessage(streams.chain(chainId), { seq: Number(anchor.sequence) });
      const prev = claim(m?.header?.get(HEADERS.prevHash), HEADERS.prevHash, anchor.sequence, 0);
      if (m && prev && !isFailure(prev) && !constantTimeEqual(chainHash(prev, m.data), anchor.hash)) {
        fail({ ok: false, sequence: anchor.sequence, reason: 'anchor_mismatch', message: `record ${anchor.sequence} does not hash to the anchor ${toHex(anchor.hash)}`, verified: 0 });
      }
    }
    const counter = { n: 0 };
    await runVerify(liveEntries(nc, chainId, anchor.sequence + 1n, head, counter), anchor, {
      source: `stream ${streams.chain(chainId)}`,
      progress: { total: Number(head - anchor.sequence), done: () => counter.n },
    });
  } finally {
    await nc.close().catch(() => undefined);
  }
}
