/**
 * Re-verification of every record the projector reads (seed 003: "if it
 * returns an error, an aggregation is meaningless until the integrity issue
 * is resolved"). Wraps ChainVerifier, anchored at the projector checkpoint,
 * and feeds it the stream sequence and the Hwl-Prev-Hash / Hwl-Hash claims:
 * the canonical bytes do not contain prev_hash, so without those claims (or a
 * signed checkpoint) a rewritten body would simply hash to something else and
 * go unnoticed. A record whose claims are missing is therefore a failure too,
 * as is one published on a subject that does not match its kind and tenant
 * (billing consumers filter on those subjects).
 */
import { ChainVerifier, hashFromHex, type Anchor, type ChainRecord } from '@hwledger/chain';
import { HEADERS, subjects } from '@hwledger/core';
import type { SourceEntry } from './chain-source.js';

export type BreakReason =
  | 'hash_mismatch'
  | 'broken_link'
  | 'gap'
  | 'duplicate'
  | 'out_of_order'
  | 'wrong_chain'
  | 'undecodable'
  | 'envelope_mismatch'
  | 'anchor_mismatch'
  | 'missing_hash_header'
  | 'subject_mismatch'
  | 'out_of_range';

export interface ChainBreak {
  sequence: bigint;
  reason: BreakReason;
  message: string;
}

export interface VerifiedEntry {
  record: ChainRecord;
  canonical: Uint8Array;
  prevHash: Uint8Array;
  hash: Uint8Array;
}

const I64_MAX = 2n ** 63n - 1n;

export class EntryVerifier {
  private verifier: ChainVerifier;
  private broken: ChainBreak | undefined;

  constructor(anchor: Anchor) {
    this.verifier = new ChainVerifier(anchor);
  }

  get head(): Anchor {
    return this.verifier.head;
  }

  get failure(): ChainBreak | undefined {
    return this.broken;
  }

  /** Verifies the next entry; returns it decoded, or undefined after recording the break. */
  push(e: SourceEntry): VerifiedEntry | undefined {
    if (this.broken) return undefined;
    const prevHash = this.verifier.head.hash;
    const hashClaim = e.headers?.get(HEADERS.hash);
    const prevClaim = e.headers?.get(HEADERS.prevHash);
    let claimedHash: Uint8Array | undefined;
    let claimedPrev: Uint8Array | undefined;
    try {
      if (hashClaim) claimedHash = hashFromHex(hashClaim, HEADERS.hash);
      if (prevClaim) claimedPrev = hashFromHex(prevClaim, HEADERS.prevHash);
    } catch (err) {
      return this.fail(e.sequence, 'hash_mismatch', `malformed hash header: ${err instanceof Error ? err.message : String(err)}`);
    }
    const f = this.verifier.push({
      canonical: e.canonical,
      sequence: e.sequence,
      hash: claimedHash,
      prevHash: claimedPrev,
    });
    if (f) return this.fail(f.sequence, f.reason, f.message);
    const record = this.verifier.lastRecord as ChainRecord;
    if (!claimedHash || !claimedPrev) {
      return this.fail(e.sequence, 'missing_hash_header', `record ${e.sequence} carries no ${HEADERS.hash}/${HEADERS.prevHash}: its link cannot be checked`);
    }
    const expectedSubject = subjects.chain(record.chainId, record.kind, record.tenant);
    if (e.subject !== expectedSubject) {
      return this.fail(
        e.sequence,
        'subject_mismatch',
        `record ${e.sequence} (${record.kind}, tenant ${JSON.stringify(record.tenant)}) was published on ${e.subject}, not ${expectedSubject}`,
      );
    }
    if (record.sequence > I64_MAX || record.sealedAtMs > I64_MAX) {
      return this.fail(e.sequence, 'out_of_range', `record ${e.sequence}: sequence or sealed_at_ms exceeds 2^63-1`);
    }
    return {
      record,
      canonical: e.canonical,
      prevHash,
      hash: this.verifier.head.hash,
    };
  }

  private fail(sequence: bigint, reason: BreakReason, message: string): undefined {
    this.broken = { sequence, reason, message };
    return undefined;
  }
}
