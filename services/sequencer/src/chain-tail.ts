/**
 * The tail of a chain: what a writer must know to append the next record
 * (its sequence, its hash, the ingest watermark). Read on every takeover and
 * after every fenced append. The tail is checked, not believed: the last
 * record's hash is recomputed from its canonical bytes and the hash of the
 * record before it (itself recomputed from its own bytes and prev claim), and
 * the header claims must agree (threat: a corrupted or foreign tail would
 * otherwise be extended and the damage sealed in). An inconsistent tail is an
 * INTEGRITY error: the sequencer refuses to seal.
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import { chainHash, constantTimeEqual, decodeRecord, genesisHash, hashFromHex, toHex, type ChainRecord } from '@hwledger/chain';
import { HEADERS, HwlError, streams } from '@hwledger/core';
import { WATERMARK_ORIGIN, watermarkFromHeaders, type Watermark } from './watermark.js';

export interface ChainTail {
  chainId: string;
  /** Sequence of the last record (0 for an empty chain). */
  sequence: bigint;
  /** current_hash of the last record (the genesis hash for an empty chain). */
  hash: Uint8Array;
  /** Ingest watermark of the last record (origin for an empty chain). */
  watermark: Watermark;
  /** sealed_at_ms of the last record (0 for an empty chain). */
  sealedAtMs: bigint;
  /** The last record, decoded (undefined for an empty chain). */
  record: ChainRecord | undefined;
}

function integrity(chainId: string, seq: number, what: string): HwlError {
  return new HwlError('INTEGRITY', `chain ${chainId}: tail record ${seq} ${what}; refusing to seal (run hwledger verify)`);
}

function headerHash(h: MsgHdrs | undefined, name: string, chainId: string, seq: number): Uint8Array | undefined {
  const v = h?.get(name);
  if (v === undefined || v === '') return undefined;
  try {
    return hashFromHex(v, name);
  } catch {
    throw integrity(chainId, seq, `has a malformed ${name} header`);
  }
}

async function load(jsm: JetStreamManager, chainId: string, seq: number): Promise<{ record: ChainRecord; data: Uint8Array; header: MsgHdrs | undefined } | undefined> {
  const m = await jsm.streams.getMessage(streams.chain(chainId), { seq });
  if (!m) return undefined;
  let record: ChainRecord;
  try {
    record = decodeRecord(m.data);
  } catch (e) {
    throw integrity(chainId, seq, `does not decode (${e instanceof Error ? e.message : String(e)})`);
  }
  if (record.chainId !== chainId) throw integrity(chainId, seq, `belongs to chain ${JSON.stringify(record.chainId)}`);
  if (record.sequence !== BigInt(seq)) throw integrity(chainId, seq, `carries sequence ${record.sequence}`);
  return { record, data: m.data, header: m.header };
}

export async function readChainTail(jsm: JetStreamManager, chainId: string): Promise<ChainTail> {
  const info = await jsm.streams.info(streams.chain(chainId));
  const last = info.state.last_seq;
  if (last === 0) {
    return { chainId, sequence: 0n, hash: genesisHash(chainId), watermark: { ...WATERMARK_ORIGIN }, sealedAtMs: 0n, record: undefined };
  }
  const tail = await load(jsm, chainId, last);
  if (!tail) throw integrity(chainId, last, 'is missing from the stream (purged head?)');

  // The hash of record last-1: recomputed from its own bytes and prev claim when
  // it is still in the stream; otherwise (archived prefix) the tail's prev claim.
  let prev: Uint8Array;
  if (last === 1) {
    prev = genesisHash(chainId);
  } else {
    const before = await load(jsm, chainId, last - 1);
    if (before) {
      const beforePrev = headerHash(before.header, HEADERS.prevHash, chainId, last - 1);
      const beforeHash = headerHash(before.header, HEADERS.hash, chainId, last - 1);
      if (!beforePrev || !beforeHash) throw integrity(chainId, last - 1, 'lacks its Hwl-Prev-Hash/Hwl-Hash headers');
      if (!constantTimeEqual(chainHash(beforePrev, before.data), beforeHash)) throw integrity(chainId, last - 1, 'does not hash to its Hwl-Hash');
      prev = beforeHash;
    } else {
      const claim = headerHash(tail.header, HEADERS.prevHash, chainId, last);
      if (!claim) throw integrity(chainId, last, 'lacks its Hwl-Prev-Hash header and its predecessor is gone');
      prev = claim;
    }
  }
  const hash = chainHash(prev, tail.data);
  const claimedPrev = headerHash(tail.header, HEADERS.prevHash, chainId, last);
  const claimedHash = headerHash(tail.header, HEADERS.hash, chainId, last);
  // Every record a sequencer writes carries both: one without them was not written by a sequencer.
  if (!claimedPrev || !claimedHash) throw integrity(chainId, last, 'lacks its Hwl-Prev-Hash/Hwl-Hash headers: not written by a sequencer');
  if (!constantTimeEqual(claimedPrev, prev)) {
    throw integrity(chainId, last, `links to ${toHex(claimedPrev)}, but record ${last - 1} hashes to ${toHex(prev)} (broken link)`);
  }
  if (!constantTimeEqual(claimedHash, hash)) {
    throw integrity(chainId, last, `claims hash ${toHex(claimedHash)}, recomputed ${toHex(hash)}`);
  }
  const watermark = watermarkFromHeaders(tail.header);
  if (!watermark) throw integrity(chainId, last, 'carries no ingest watermark (Hwl-Ingest, or Hwl-Ingest-Seq/Hwl-Ingest-Index from earlier versions): not written by a sequencer');
  return { chainId, sequence: BigInt(last), hash, watermark, sealedAtMs: tail.record.sealedAtMs, record: tail.record };
}
