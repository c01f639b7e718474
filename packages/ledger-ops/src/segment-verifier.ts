/**
 * Verifies export-format records (spec: "Export (JSONL)") in sequence order
 * from a tree anchor, recomputing every hash from `canonical` and the RFC
 * 9162 root at every expected checkpoint: used for the live chain, git
 * replicas and archives. Every expected checkpoint must be reached: one
 * beyond the last record is a failure (`truncated`), never "not yet covered".
 * Memory is O(log n): the chain verifier keeps one hash, the Merkle
 * accumulator one compact range. The first failure is kept and names the
 * sequence, the reason, and the file and line it came from.
 */
import {
  ChainVerifier,
  MerkleAccumulator,
  compactRangeShape,
  constantTimeEqual,
  parseExportLine,
  toHex,
  verifyCheckpoint,
  parseSignedCheckpoint,
  type Checkpoint,
  type NoteVerifier,
  type VerifyInput,
  type VerifyReason,
} from '@hwledger/chain';
import type { TreeAnchor } from './tree-anchor.js';

export type SegmentReason =
  | VerifyReason
  /** The line is not a valid export line. */
  | 'malformed_line'
  /** A segment's name or position does not fit the sequences it holds. */
  | 'segment_mismatch'
  /** A segment's compressed bytes differ from their recorded SHA-256. */
  | 'segment_checksum'
  /** A compressed segment does not decompress. */
  | 'corrupt_compression'
  /** A checkpoint's signature does not verify with the trusted keys. */
  | 'bad_signature'
  /** The records do not reproduce a checkpoint's head or Merkle root. */
  | 'checkpoint_mismatch'
  /**
   * A checkpoint (signed by a trusted key when keys are given) covers records
   * beyond the last one the source holds: its newest records were removed
   * after they were checkpointed (or the source was recreated shorter).
   */
  | 'truncated';

export interface SegmentFailure {
  ok: false;
  sequence: bigint;
  reason: SegmentReason;
  message: string;
  file?: string | undefined;
  line?: number | undefined;
}

export interface SegmentVerifySuccess {
  ok: true;
  verified: number;
  head: { sequence: bigint; hash: Uint8Array };
  checkpointsChecked: number;
}

export interface ExpectedCheckpoint {
  note: string;
  /** Where it came from, for messages. */
  source: string;
  /** The file it was read from, named in a failure about it. */
  file?: string | undefined;
}

interface Pending {
  cp: Checkpoint;
  source: string;
  file: string | undefined;
}

export class SegmentVerifier {
  private readonly chain: ChainVerifier;
  private readonly acc: MerkleAccumulator;
  private readonly pending: Pending[] = [];
  private failure: SegmentFailure | undefined;
  private checked = 0;

  constructor(
    readonly anchor: TreeAnchor,
    checkpoints: readonly ExpectedCheckpoint[],
    readonly trusted: readonly NoteVerifier[],
  ) {
    this.chain = new ChainVerifier({ chainId: anchor.chainId, sequence: anchor.sequence, hash: anchor.hash });
    const shape = compactRangeShape(anchor.sequence);
    this.acc = MerkleAccumulator.restore({ size: anchor.sequence, nodes: shape.map((s, i) => ({ height: s.level, hash: anchor.compact[i]! })) });
    const list: Pending[] = [];
    for (const c of checkpoints) {
      let cp: Checkpoint;
      try {
        cp = trusted.length > 0 ? verifyCheckpoint(c.note, trusted).checkpoint : parseSignedCheckpoint(c.note).checkpoint;
      } catch (e) {
        this.fail(0n, 'bad_signature', `checkpoint ${c.source}: ${e instanceof Error ? e.message : String(e)}`, c.file ?? c.source);
        return;
      }
      if (cp.chainId !== anchor.chainId) {
        this.fail(cp.sequence, 'checkpoint_mismatch', `checkpoint ${c.source} is for chain ${cp.chainId}`, c.file ?? c.source);
        return;
      }
      if (cp.sequence > anchor.sequence) list.push({ cp, source: c.source, file: c.file });
    }
    list.sort((a, b) => (a.cp.sequence < b.cp.sequence ? -1 : a.cp.sequence > b.cp.sequence ? 1 : 0));
    // The same checkpoint from two places (the log and KV, a fleet entry) is checked once;
    // two different checkpoints at one size are both kept (the records can match only one).
    for (const c of list) {
      const last = this.pending.at(-1);
      if (last && last.cp.sequence === c.cp.sequence && constantTimeEqual(last.cp.headHash, c.cp.headHash) && constantTimeEqual(last.cp.rootHash, c.cp.rootHash)) continue;
      this.pending.push(c);
    }
  }

  get failed(): SegmentFailure | undefined {
    return this.failure;
  }

  /** The next sequence expected. */
  get expected(): bigint {
    return this.chain.expected;
  }

  get head(): { sequence: bigint; hash: Uint8Array } {
    return { sequence: this.chain.head.sequence, hash: this.chain.head.hash };
  }

  /** Compact range of the tree so far (largest subtree first). */
  compactRange(): Uint8Array[] {
    return this.acc.snapshot().nodes.map((n) => n.hash);
  }

  root(): Uint8Array {
    return this.acc.root();
  }

  fail(sequence: bigint, reason: SegmentReason, message: string, file?: string, line?: number): SegmentFailure {
    if (!this.failure) this.failure = { ok: false, sequence, reason, message, file, line };
    return this.failure;
  }

  /** Verifies one export line; returns the (first) failure if any. */
  pushLine(text: string, file: string, line: number): SegmentFailure | undefined {
    if (this.failure) return this.failure;
    let entry;
    try {
      entry = parseExportLine(text, line);
    } catch (e) {
      return this.fail(this.chain.expected, 'malformed_line', e instanceof Error ? e.message : String(e), file, line);
    }
    return this.pushEntry(entry, file, line);
  }

  /** Verifies one record given as canonical bytes plus whatever claims came with it. */
  pushEntry(entry: VerifyInput, file?: string, line?: number): SegmentFailure | undefined {
    if (this.failure) return this.failure;
    const f = this.chain.push(entry);
    if (f) return this.fail(f.sequence, f.reason, f.message, file, line);
    this.acc.append(this.chain.head.hash);
    while (this.pending.length > 0 && this.pending[0]!.cp.sequence === this.chain.head.sequence) {
      const { cp, source } = this.pending.shift()!;
      if (!constantTimeEqual(cp.headHash, this.chain.head.hash)) {
        return this.fail(cp.sequence, 'checkpoint_mismatch', `record ${cp.sequence} hashes to ${toHex(this.chain.head.hash)}, checkpoint ${source} signs head ${toHex(cp.headHash)}`, file, line);
      }
      if (!constantTimeEqual(cp.rootHash, this.acc.root())) {
        return this.fail(cp.sequence, 'checkpoint_mismatch', `Merkle root over records up to ${cp.sequence} differs from checkpoint ${source}`, file, line);
      }
      this.checked++;
    }
    return undefined;
  }

  /**
   * Ends verification. Every expected checkpoint must have been reached: one
   * beyond the last record is `truncated` (threat: the newest records were
   * dropped after they were checkpointed, leaving a shorter chain that is
   * still internally consistent — only the signed checkpoint shows it). The
   * failure names the newest such checkpoint and the first missing sequence.
   * `requireAll: false` accepts checkpoints beyond the records; no verifier
   * here uses it (the sources given checkpoints must hold what they sign).
   * `ends` words the end of the source for the message ("the replica ends").
   */
  finish(opts: { requireAll?: boolean; ends?: string } = {}): SegmentVerifySuccess | SegmentFailure {
    if (this.failure) return this.failure;
    if (opts.requireAll !== false && this.pending.length > 0) {
      const p = this.pending.at(-1)!;
      const more = this.pending.length > 1 ? `; ${this.pending.length} signed checkpoints beyond the end, the first at ${this.pending[0]!.cp.sequence}` : '';
      return this.fail(
        this.chain.expected,
        'truncated',
        `checkpoint hwledger/${p.cp.chainId} at ${p.cp.sequence} is signed, ${opts.ends ?? 'the records end'} at ${this.chain.head.sequence} (${p.source}${more})`,
        p.file,
      );
    }
    return { ok: true, verified: this.chain.verified, head: this.head, checkpointsChecked: this.checked };
  }
}
