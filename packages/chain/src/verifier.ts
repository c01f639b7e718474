/**
 * Verification from an anchor (spec: "Hash chain"). `ChainVerifier` is a
 * streaming verifier: it keeps only the previous hash and sequence, so memory
 * is constant however long the chain. Every input is untrusted: hashes and
 * link claims that come with a record (export `hash`, `Hwl-Hash` headers) are
 * compared against what is recomputed, never believed.
 */
import { constantTimeEqual, toHex } from './bytes.js';
import { decodeRecord } from './canonical.js';
import { isChainError } from './errors.js';
import { chainHash, genesisHash } from './hash.js';
import type { Anchor, ChainRecord } from './record.js';

export type VerifyReason =
  /** The claimed hash differs from SHA-256(prev || canonical): the record was altered. */
  | 'hash_mismatch'
  /** The record's claimed predecessor hash is not the predecessor's hash. */
  | 'broken_link'
  /** A sequence is missing: the record found has a higher sequence than expected. */
  | 'gap'
  /** The same sequence appears again. */
  | 'duplicate'
  /** A lower sequence than expected that is not a repeat of the last one. */
  | 'out_of_order'
  /** The record names another chain. */
  | 'wrong_chain'
  /** The canonical bytes do not decode. */
  | 'undecodable'
  /** The sequence or chain id claimed beside the record differs from its canonical bytes. */
  | 'envelope_mismatch'
  /** The chain does not reach the anchor, or does not end at the expected head. */
  | 'anchor_mismatch';

export interface VerifyFailure {
  ok: false;
  /** The first bad sequence. */
  sequence: bigint;
  reason: VerifyReason;
  message: string;
  /** Records verified before the failure. */
  verified: number;
}

export interface VerifySuccess {
  ok: true;
  verified: number;
  /** The last verified record (the anchor itself when nothing was verified). */
  head: Anchor;
}

export type VerifyResult = VerifySuccess | VerifyFailure;

/** One entry to verify: canonical bytes plus whatever claims came with them. */
export interface VerifyInput {
  canonical: Uint8Array;
  /** Claimed current_hash (export `hash`, header `Hwl-Hash`). */
  hash?: Uint8Array | undefined;
  /** Claimed prev_hash (export `prev_hash`, header `Hwl-Prev-Hash`). */
  prevHash?: Uint8Array | undefined;
  /** Sequence claimed by the container (export `sequence`, stream sequence). */
  sequence?: bigint | undefined;
  /** Chain id claimed by the container (export `chain_id`). */
  chainId?: string | undefined;
}

export function genesisAnchor(chainId: string): Anchor {
  return { chainId, sequence: 0n, hash: genesisHash(chainId) };
}

export class ChainVerifier {
  private prev: Uint8Array;
  private seq: bigint;
  private count = 0;
  private failure: VerifyFailure | undefined;
  /** The last record decoded (useful to callers that index while verifying). */
  lastRecord: ChainRecord | undefined;

  constructor(readonly anchor: Anchor) {
    this.prev = anchor.hash;
    this.seq = anchor.sequence;
    // Sequence 0 is genesis by definition (spec: "Hash chain"): an anchor there with any other
    // hash is not a trusted point, and a chain linking to it must never verify "from genesis".
    if (anchor.sequence === 0n && !constantTimeEqual(anchor.hash, genesisHash(anchor.chainId))) {
      this.fail(1n, 'anchor_mismatch', `anchor 0:${toHex(anchor.hash)} is not the genesis hash of chain ${JSON.stringify(anchor.chainId)} (${toHex(genesisHash(anchor.chainId))})`);
    }
  }

  get failed(): VerifyFailure | undefined {
    return this.failure;
  }

  get verified(): number {
    return this.count;
  }

  /** The next sequence this verifier expects. */
  get expected(): bigint {
    return this.seq + 1n;
  }

  get head(): Anchor {
    return { chainId: this.anchor.chainId, sequence: this.seq, hash: this.prev };
  }

  private fail(sequence: bigint, reason: VerifyReason, message: string): VerifyFailure {
    this.failure = { ok: false, sequence, reason, message, verified: this.count };
    return this.failure;
  }

  /**
   * Verifies the next entry. Returns the failure (and stays failed) or
   * undefined when the entry extends the chain.
   */
  push(input: VerifyInput): VerifyFailure | undefined {
    if (this.failure) return this.failure;
    // Every failure names `expected`, the position where the chain stops
    // verifying, never a sequence the (untrusted) record or its container
    // claims: a forged, foreign or duplicated record is named where it sits.
    const expected = this.seq + 1n;
    let record: ChainRecord;
    try {
      record = decodeRecord(input.canonical);
    } catch (e) {
      const why = isChainError(e) ? `${e.code}: ${e.message}` : String(e);
      const claimed = input.sequence !== undefined && input.sequence !== expected ? ` (claimed sequence ${input.sequence})` : '';
      return this.fail(expected, 'undecodable', `record does not decode${claimed}: ${why}`);
    }
    if (record.chainId !== this.anchor.chainId) {
      return this.fail(
        expected,
        'wrong_chain',
        `record ${record.sequence} belongs to chain ${JSON.stringify(record.chainId)}, not ${JSON.stringify(this.anchor.chainId)}`,
      );
    }
    if (input.chainId !== undefined && input.chainId !== record.chainId) {
      return this.fail(expected, 'envelope_mismatch', `chain_id ${JSON.stringify(input.chainId)} beside the record differs from its canonical bytes`);
    }
    if (input.sequence !== undefined && input.sequence !== record.sequence) {
      return this.fail(expected, 'envelope_mismatch', `sequence ${input.sequence} beside the record differs from its canonical sequence ${record.sequence}`);
    }
    if (record.sequence !== expected) {
      if (record.sequence > expected) {
        return this.fail(expected, 'gap', `expected sequence ${expected}, found ${record.sequence}`);
      }
      if (record.sequence === this.seq) {
        return this.fail(expected, 'duplicate', `sequence ${record.sequence} appears again where ${expected} was expected`);
      }
      return this.fail(expected, 'out_of_order', `expected sequence ${expected}, found earlier sequence ${record.sequence}`);
    }
    const computed = chainHash(this.prev, input.canonical);
    if (input.prevHash !== undefined && !constantTimeEqual(input.prevHash, this.prev)) {
      return this.fail(expected, 'broken_link', `prev_hash ${toHex(input.prevHash)} is not the hash of sequence ${this.seq} (${toHex(this.prev)})`);
    }
    if (input.hash !== undefined && !constantTimeEqual(input.hash, computed)) {
      // The first record links to the anchor: a wrong anchor looks exactly like this.
      const hint = this.count === 0 && this.seq > 0n ? ` (or the anchor is not the hash of record ${this.seq})` : '';
      return this.fail(expected, 'hash_mismatch', `claimed hash ${toHex(input.hash)} differs from recomputed ${toHex(computed)}${hint}`);
    }
    this.prev = computed;
    this.seq = expected;
    this.count++;
    this.lastRecord = record;
    return undefined;
  }

  /**
   * Checks that the chain verified so far ends at a trusted head (for
   * example a signed checkpoint). Fails with anchor_mismatch otherwise.
   */
  expectHead(head: Anchor): VerifyFailure | undefined {
    if (this.failure) return this.failure;
    if (head.sequence !== this.seq) {
      return this.fail(this.seq < head.sequence ? this.seq + 1n : head.sequence + 1n, 'anchor_mismatch', `chain ends at ${this.seq}, trusted head is at ${head.sequence}`);
    }
    if (!constantTimeEqual(head.hash, this.prev)) {
      // Without per-record hash claims the altered record cannot be located: say so.
      return this.fail(head.sequence, 'anchor_mismatch', `hash at ${head.sequence} differs from the trusted head (some record up to ${head.sequence} was altered; which one cannot be told without per-record hash claims)`);
    }
    return undefined;
  }

  result(): VerifyResult {
    return this.failure ?? { ok: true, verified: this.count, head: this.head };
  }
}

/** Verifies a finite or async sequence of entries from an anchor. */
export async function verifyEntries(
  entries: Iterable<VerifyInput> | AsyncIterable<VerifyInput>,
  anchor: Anchor,
): Promise<VerifyResult> {
  const v = new ChainVerifier(anchor);
  for await (const e of entries) {
    if (v.push(e)) break;
  }
  return v.result();
}

/** Synchronous verification of in-memory entries. */
export function verifyEntriesSync(entries: Iterable<VerifyInput>, anchor: Anchor): VerifyResult {
  const v = new ChainVerifier(anchor);
  for (const e of entries) {
    if (v.push(e)) break;
  }
  return v.result();
}
