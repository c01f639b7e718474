/**
 * NATS names a consumer can rely on (documented in the README).
 *
 *   hwl.ingest.<chain>.<node>                  agents -> sequencer (protobuf IngestBatch)
 *   hwl.chain.<chain>.<kind>.<tenant|_>        sealed records (body = canonical bytes)
 *   hwl.dlq.<chain>                            rejected ingest (body = original bytes)
 *   hwl.checkpoint.<chain>                     signed checkpoints (signed-note text)
 *
 * Streams: HWL_INGEST_<chain>, HWL_CHAIN_<chain>, HWL_DLQ_<chain>, HWL_CKPT_<chain>.
 * Chain ids, node names and tenants are single subject tokens: [A-Za-z0-9][A-Za-z0-9_-]*.
 */
import * as crypto from 'node:crypto';
import { SUBJECT_TOKEN_RE, isWellFormed, sha256, toHex, utf8Encode, type KindName } from '@hwledger/chain';
import { HwlError } from './errors.js';

export const HEADERS = {
  /** Lowercase hex prev_hash of the record (convenience; verifiers recompute). */
  prevHash: 'Hwl-Prev-Hash',
  /** Lowercase hex current_hash of the record (convenience; verifiers recompute). */
  hash: 'Hwl-Hash',
  /**
   * Chain records sealed since late on 2026-12-07: where the event came from, as
   * `<ingest stream sequence>.<index in that message, 0-based>.<events in it>`
   * (the ingest watermark; one header instead of the three below, because
   * nats-server's cost per stored record grows with its header bytes).
   */
  ingest: 'Hwl-Ingest',
  /** Dead letters, and chain records sealed by earlier versions: ingest stream sequence of the message. */
  ingestSeq: 'Hwl-Ingest-Seq',
  /** Dead letters, and chain records sealed by earlier versions: index of the event within that ingest message (0-based). */
  ingestIndex: 'Hwl-Ingest-Index',
  /** Chain records sealed by earlier versions: number of events in that ingest message. */
  ingestCount: 'Hwl-Ingest-Count',
  /** Dead letters: stable rejection code. */
  rejectCode: 'Hwl-Reject-Code',
  /** Dead letters: human-readable reason. */
  rejectReason: 'Hwl-Reject-Reason',
  /** Dead letters: the subject the message was published on. */
  origSubject: 'Hwl-Orig-Subject',
  msgId: 'Nats-Msg-Id',
} as const;

export function assertToken(value: string, what: string): string {
  if (!SUBJECT_TOKEN_RE.test(value)) {
    throw new HwlError('CONFIG', `${what} ${JSON.stringify(value)} must match [A-Za-z0-9][A-Za-z0-9_-]{0,127}`);
  }
  return value;
}

export const subjects = {
  ingest: (chain: string, node: string): string => `hwl.ingest.${chain}.${node}`,
  ingestAll: (chain: string): string => `hwl.ingest.${chain}.>`,
  chain: (chain: string, kind: KindName, tenant: string): string => `hwl.chain.${chain}.${kind}.${tenant === '' ? '_' : tenant}`,
  chainAll: (chain: string): string => `hwl.chain.${chain}.>`,
  dlq: (chain: string): string => `hwl.dlq.${chain}`,
  checkpoint: (chain: string): string => `hwl.checkpoint.${chain}`,
} as const;

/**
 * Whether `source` is `owner` or lies below it (`owner` "/" and at least one
 * more character): the sequencer's rule for the events on a node's ingest
 * subject, where `owner` is that node's source `<chain>/<node>`
 * (docs/sequencer.md, "Sources"). Producers check it before publishing.
 */
export function isOwnSource(owner: string, source: string): boolean {
  if (owner === '') return false; // an empty owner owns nothing
  return source === owner || (source.length > owner.length + 1 && source.startsWith(owner) && source.charCodeAt(owner.length) === 0x2f);
}

export const streams = {
  ingest: (chain: string): string => `HWL_INGEST_${chain}`,
  chain: (chain: string): string => `HWL_CHAIN_${chain}`,
  dlq: (chain: string): string => `HWL_DLQ_${chain}`,
  checkpoint: (chain: string): string => `HWL_CKPT_${chain}`,
} as const;

export const KV_BUCKETS = {
  /** Sequencer leader leases, key = chain id. */
  leader: 'hwl_leader',
  /** Latest signed checkpoint per chain, key = chain id. */
  checkpoints: 'hwl_checkpoints',
} as const;

/** Nats-Msg-Id for a record: derived from (source, event_id) so republishing deduplicates. */
export function recordMsgId(source: string, eventId: string): string {
  const text = `${source}\n${eventId}`;
  // The sequencer computes this for every event: use the native one-shot
  // SHA-256 when Node has it (20.12+). Same value as the portable form below;
  // lone surrogates are refused either way (utf8Encode throws INVALID_UTF8).
  if (nativeHash && isWellFormed(text)) return nativeHash('sha256', text, 'hex').slice(0, 48);
  return toHex(sha256(utf8Encode(text))).slice(0, 48);
}

const nativeHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;
