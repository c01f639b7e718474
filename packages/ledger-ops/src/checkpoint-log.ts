/**
 * The checkpoint log of a chain: every signed checkpoint in order on the
 * stream HWL_CKPT_<chain> (subject hwl.checkpoint.<chain>, body = the signed
 * note), and the latest one in KV hwl_checkpoints under the chain id.
 *
 * Never two inconsistent checkpoints (threats: two checkpointers after a
 * failover, a stale process, a replayed note):
 * - the stream is the source of truth and is append-fenced: a checkpoint is
 *   published with Nats-Expected-Last-Sequence = the stream sequence of the
 *   checkpoint it extends, so of two writers only one extends a given one;
 * - each message carries the RFC 9162 consistency proof from the previous
 *   checkpoint and the compact range of its own tree, so anyone can check
 *   the whole log pairwise without the chain (verifyCheckpointLog);
 * - the KV copy is updated with a revision check and never to a smaller tree.
 */
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError, PubHeaders, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import {
  isChainError,
  parseSignedCheckpoint,
  parseU64,
  rootFromCompactRange,
  constantTimeEqual,
  toHex,
  utf8Decode,
  utf8Encode,
  verifyCheckpoint,
  verifyConsistency,
  type Checkpoint,
  type NoteVerifier,
  type SignedCheckpoint,
} from '@hwledger/chain';
import { ensureStream, HwlError, openKvBucket, streams, subjects } from '@hwledger/core';
import { decodeHashList, encodeHashList } from './hex-list.js';
import { CHECKPOINT_BUCKET, CKPT_HEADERS, checkpointStreamConfig, kvKeys } from './names.js';
import { readStream, type StreamMsg } from './stream-read.js';
import { JsPublisher } from './js-publisher.js';

export interface StoredCheckpoint {
  /** The signed note, exactly as stored. */
  note: string;
  checkpoint: Checkpoint;
  signed: SignedCheckpoint;
  /** Compact range of the tree at checkpoint.sequence (largest subtree first). */
  compact: Uint8Array[];
  /** Tree size of the previous checkpoint on the stream. */
  prevSize: bigint;
  /** Consistency proof from prevSize to this size. */
  consistency: Uint8Array[];
  /** Stream sequence of this checkpoint on HWL_CKPT_<chain>. */
  streamSeq: number;
}

export interface NewCheckpoint {
  signed: SignedCheckpoint;
  compact: Uint8Array[];
  prevSize: bigint;
  consistency: Uint8Array[];
}

/** Parses and structurally checks one checkpoint message (signatures are checked by callers with their keys). */
export function parseCheckpointMessage(chainId: string, m: StreamMsg): StoredCheckpoint {
  const where = `checkpoint #${m.seq} of chain ${chainId}`;
  let signed: SignedCheckpoint;
  try {
    signed = parseSignedCheckpoint(utf8Decode(m.data));
  } catch (e) {
    throw new HwlError('INTEGRITY', `${where} is not a signed checkpoint note: ${e instanceof Error ? e.message : String(e)}`);
  }
  const cp = signed.checkpoint;
  if (cp.chainId !== chainId) throw new HwlError('INTEGRITY', `${where} names chain ${JSON.stringify(cp.chainId)}`);
  const size = m.headers?.get(CKPT_HEADERS.size);
  if (size !== undefined && size !== '' && size !== cp.sequence.toString()) {
    throw new HwlError('INTEGRITY', `${where}: header tree size ${size} differs from the note's ${cp.sequence}`);
  }
  const compact = decodeHashList(m.headers?.get(CKPT_HEADERS.compactRange), `${where} compact range`);
  let root: Uint8Array;
  try {
    root = rootFromCompactRange(cp.sequence, compact);
  } catch (e) {
    throw new HwlError('INTEGRITY', `${where}: compact range does not fit tree size ${cp.sequence} (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!constantTimeEqual(root, cp.rootHash)) throw new HwlError('INTEGRITY', `${where}: compact range hashes to ${toHex(root)}, not the signed root`);
  const prevText = m.headers?.get(CKPT_HEADERS.prevSize) ?? '0';
  if (!/^(0|[1-9][0-9]{0,19})$/.test(prevText)) throw new HwlError('INTEGRITY', `${where}: malformed ${CKPT_HEADERS.prevSize}`);
  return {
    note: signed.note,
    checkpoint: cp,
    signed,
    compact,
    prevSize: BigInt(prevText),
    consistency: decodeHashList(m.headers?.get(CKPT_HEADERS.consistency), `${where} consistency proof`),
    streamSeq: m.seq,
  };
}

/** Opens the checkpoint bucket, creating it with `replicas` copies when missing (an existing bucket is opened as it is). */
export async function openCheckpointBucket(nc: NatsConnection, replicas = 1): Promise<KV> {
  // Rollups refused: one chain's sequencer cannot purge the others' checkpoints (@hwledger/core kv-bucket.ts).
  return openKvBucket(nc, CHECKPOINT_BUCKET, { history: 5, replicas });
}

export class CheckpointLog {
  private constructor(
    readonly nc: NatsConnection,
    readonly chainId: string,
    private readonly jsm: JetStreamManager,
    readonly kv: KV,
  ) {}

  /** Opens (creating if missing, with `replicas` copies) the checkpoint stream and KV bucket of a chain. */
  static async open(nc: NatsConnection, chainId: string, replicas = 1): Promise<CheckpointLog> {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, checkpointStreamConfig(chainId, replicas));
    return new CheckpointLog(nc, chainId, jsm, await openCheckpointBucket(nc, replicas));
  }

  get streamName(): string {
    return streams.checkpoint(this.chainId);
  }

  async lastStreamSeq(): Promise<number> {
    return (await this.jsm.streams.info(this.streamName)).state.last_seq;
  }

  async get(streamSeq: number): Promise<StoredCheckpoint | undefined> {
    if (streamSeq < 1) return undefined;
    const m = await this.jsm.streams.getMessage(this.streamName, { seq: streamSeq });
    if (!m) return undefined;
    return parseCheckpointMessage(this.chainId, { seq: m.seq, subject: m.subject, data: m.data, headers: m.header });
  }

  /** The latest checkpoint: the last message of the stream (authoritative; KV may lag). */
  async latest(): Promise<StoredCheckpoint | undefined> {
    return this.get(await this.lastStreamSeq());
  }

  /** The checkpoint of exactly this tree size (binary search: sizes grow with stream sequence). */
  async findBySize(size: bigint): Promise<StoredCheckpoint | undefined> {
    let lo = 1;
    let hi = await this.lastStreamSeq();
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      const c = await this.get(mid);
      if (!c) return undefined;
      if (c.checkpoint.sequence === size) return c;
      if (c.checkpoint.sequence < size) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** The latest checkpoint of tree size <= `size`. */
  async atOrBefore(size: bigint): Promise<StoredCheckpoint | undefined> {
    let lo = 1;
    let hi = await this.lastStreamSeq();
    let best: StoredCheckpoint | undefined;
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      const c = await this.get(mid);
      if (!c) return best;
      if (c.checkpoint.sequence <= size) {
        best = c;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  }

  /** Every checkpoint from stream sequence `from`, in order. */
  async *all(from = 1): AsyncGenerator<StoredCheckpoint> {
    for await (const m of readStream(this.nc, this.streamName, from)) yield parseCheckpointMessage(this.chainId, m);
  }

  /**
   * Appends a checkpoint that extends the one at stream sequence
   * `expectedLast` (0: the stream must be empty). Throws HwlError FENCED when
   * another writer appended first.
   */
  async append(c: NewCheckpoint, expectedLast: number): Promise<number> {
    const h = natsHeaders();
    h.set(CKPT_HEADERS.size, c.signed.checkpoint.sequence.toString());
    h.set(CKPT_HEADERS.compactRange, encodeHashList(c.compact));
    h.set(CKPT_HEADERS.prevSize, c.prevSize.toString());
    if (c.consistency.length > 0) h.set(CKPT_HEADERS.consistency, encodeHashList(c.consistency));
    // The fence and the id, as js.publish would set them from `expect` and `msgID`.
    h.set(PubHeaders.ExpectedStreamHdr, this.streamName);
    h.set(PubHeaders.ExpectedLastSeqHdr, String(expectedLast));
    h.set(PubHeaders.MsgIdHdr, `${this.chainId}:${c.signed.checkpoint.sequence}:${toHex(c.signed.checkpoint.rootHash).slice(0, 16)}`);
    const r = await this.publisher().publish(subjects.checkpoint(this.chainId), utf8Encode(c.signed.note), h, 10_000);
    if (!r.ok) {
      if (r.errCode === JetStreamApiCodes.StreamWrongLastSequence || /wrong last sequence/i.test(r.description)) {
        throw new HwlError('FENCED', `another checkpoint was published on ${this.streamName} first`);
      }
      throw new HwlError('UNAVAILABLE', `${this.streamName} refused the checkpoint at ${c.signed.checkpoint.sequence}: ${r.description} (${r.errCode})`);
    }
    if (r.duplicate) throw new HwlError('FENCED', `checkpoint at ${c.signed.checkpoint.sequence} was already published`);
    return r.seq;
  }

  private pub: JsPublisher | undefined;

  /** The publisher of append/updateKv, made on first use (readers never subscribe for PubAcks). */
  private publisher(): JsPublisher {
    return (this.pub ??= new JsPublisher(this.nc));
  }

  /** Releases the PubAck subscription, if one was made. */
  close(): void {
    this.pub?.close();
    this.pub = undefined;
  }

  /** The KV entry this instance wrote last (its revision and tree size), for updateKv's fast path. */
  private kvWritten: { revision: number; size: bigint } | undefined;

  /** Mirrors a stored checkpoint to KV (revision-checked; never to a smaller tree). Returns false if KV already had a newer one. */
  async updateKv(c: StoredCheckpoint): Promise<boolean> {
    const key = kvKeys.latest(this.chainId);
    const value = JSON.stringify({
      note: c.note,
      size: c.checkpoint.sequence.toString(),
      head: toHex(c.checkpoint.headHash),
      compact: encodeHashList(c.compact),
      stream_seq: c.streamSeq,
    });
    // Fast path: the entry is still the one this process wrote last (revision
    // check), so one request instead of a read and a write per checkpoint.
    const known = this.kvWritten;
    if (known && known.size < c.checkpoint.sequence) {
      // kv.update(key, value, revision) as one raw publish: the bucket's subject, fenced on the key's last revision.
      const h = natsHeaders();
      h.set(PubHeaders.ExpectedLastSubjectSequenceHdr, String(known.revision));
      const r = await this.publisher().publish(`$KV.${CHECKPOINT_BUCKET}.${key}`, utf8Encode(value), h, 10_000);
      if (r.ok) {
        this.kvWritten = { revision: r.seq, size: c.checkpoint.sequence };
        return true;
      }
      this.kvWritten = undefined;
      if (!(r.errCode === JetStreamApiCodes.StreamWrongLastSequence || /wrong last sequence|key exists/i.test(r.description))) {
        throw new HwlError('UNAVAILABLE', `checkpoint KV refused the update: ${r.description} (${r.errCode})`);
      }
    }
    for (let attempt = 0; attempt < 10; attempt++) {
      const cur = await this.kv.get(key);
      try {
        if (!cur || cur.operation !== 'PUT') {
          this.kvWritten = { revision: await this.kv.create(key, value), size: c.checkpoint.sequence };
          return true;
        }
        const have = (cur.json() as { size?: string }).size;
        if (have !== undefined && /^[0-9]+$/.test(have) && BigInt(have) >= c.checkpoint.sequence) return false;
        this.kvWritten = { revision: await this.kv.update(key, value, cur.revision), size: c.checkpoint.sequence };
        return true;
      } catch (e) {
        if (e instanceof JetStreamApiError || (e instanceof Error && /wrong last sequence|key exists/i.test(e.message))) continue;
        throw e;
      }
    }
    throw new HwlError('CONFLICT', `could not update the latest checkpoint of ${this.chainId} in KV`);
  }

  /** The latest checkpoint as mirrored in KV (may lag the stream). */
  async kvLatest(): Promise<{ note: string; size: bigint; streamSeq: number } | undefined> {
    const key = kvKeys.latest(this.chainId);
    const v = await this.getJson<unknown>(key);
    if (v === undefined) return undefined;
    // Whoever can write the bucket writes this value: checked, never trusted to be well-formed.
    const bad = (why: string): HwlError => new HwlError('INTEGRITY', `KV ${CHECKPOINT_BUCKET} key ${key}: malformed latest checkpoint (${why})`);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('not a JSON object');
    const o = v as Record<string, unknown>;
    if (typeof o['note'] !== 'string') throw bad('note is not a string');
    let size: bigint;
    try {
      size = parseU64(o['size'], 'size');
    } catch (e) {
      if (!isChainError(e)) throw e;
      throw bad(`size ${JSON.stringify(o['size'])} is not a decimal u64`);
    }
    const streamSeq = o['stream_seq'];
    if (typeof streamSeq !== 'number' || !Number.isSafeInteger(streamSeq) || streamSeq < 0) throw bad(`stream_seq ${JSON.stringify(streamSeq)} is not a non-negative integer`);
    return { note: o['note'], size, streamSeq };
  }

  /** A KV value as JSON (undefined when absent or deleted); INTEGRITY when it is not JSON. Its shape is the caller's to check. */
  async getJson<T>(key: string): Promise<T | undefined> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT') return undefined;
    try {
      return e.json() as T;
    } catch (err) {
      throw new HwlError('INTEGRITY', `KV ${CHECKPOINT_BUCKET} key ${key} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.kv.put(key, JSON.stringify(value));
  }
}

export interface CheckpointLogIssue {
  streamSeq: number;
  size: bigint;
  reason: 'bad_signature' | 'malformed' | 'shrinks' | 'inconsistent' | 'wrong_chain';
  message: string;
}

export interface CheckpointLogReport {
  checked: number;
  latest: StoredCheckpoint | undefined;
  issues: CheckpointLogIssue[];
}

/**
 * Checks a whole checkpoint log without the chain: each note is signed by a
 * trusted key, tree sizes never shrink, and each checkpoint is consistent
 * with the previous one (its carried RFC 9162 proof verifies between the two
 * signed roots). Stops at the first issue.
 */
export async function verifyCheckpointLog(log: CheckpointLog, trusted: readonly NoteVerifier[]): Promise<CheckpointLogReport> {
  let prev: StoredCheckpoint | undefined;
  let checked = 0;
  const issues: CheckpointLogIssue[] = [];
  try {
    for await (const m of readStream(log.nc, log.streamName)) {
      let c: StoredCheckpoint;
      try {
        c = parseCheckpointMessage(log.chainId, m);
      } catch (e) {
        issues.push({ streamSeq: m.seq, size: 0n, reason: 'malformed', message: e instanceof Error ? e.message : String(e) });
        break;
      }
      const issue = checkNext(c, prev, trusted);
      if (issue) {
        issues.push(issue);
        break;
      }
      prev = c;
      checked++;
    }
  } catch (e) {
    if (!(e instanceof Error && /not found/i.test(e.message))) throw e;
  }
  return { checked, latest: prev, issues };
}

/** Checks that `c` is a trusted, consistent successor of `prev` (undefined: it is the first). */
export function checkNext(c: StoredCheckpoint, prev: StoredCheckpoint | undefined, trusted: readonly NoteVerifier[]): CheckpointLogIssue | undefined {
  const size = c.checkpoint.sequence;
  if (trusted.length > 0) {
    try {
      verifyCheckpoint(c.note, trusted);
    } catch (e) {
      return { streamSeq: c.streamSeq, size, reason: 'bad_signature', message: `checkpoint at ${size}: ${e instanceof Error ? e.message : String(e)}` };
    }
  }
  if (!prev) return undefined;
  const p = prev.checkpoint;
  if (size < p.sequence) return { streamSeq: c.streamSeq, size, reason: 'shrinks', message: `checkpoint at ${size} follows one at ${p.sequence}: the log shrank` };
  if (c.prevSize !== p.sequence) {
    return { streamSeq: c.streamSeq, size, reason: 'inconsistent', message: `checkpoint at ${size} claims to extend ${c.prevSize}, but follows ${p.sequence}` };
  }
  try {
    verifyConsistency(p.sequence, size, c.consistency, p.rootHash, c.checkpoint.rootHash);
  } catch (e) {
    return { streamSeq: c.streamSeq, size, reason: 'inconsistent', message: `checkpoint at ${size} is not consistent with the one at ${p.sequence}: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (size === p.sequence && !constantTimeEqual(c.checkpoint.headHash, p.headHash)) {
    return { streamSeq: c.streamSeq, size, reason: 'inconsistent', message: `two checkpoints at ${size} with different heads` };
  }
  return undefined;
}

