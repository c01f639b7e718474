/**
 * A Merkle tree of a chain on disk, for proofs at any scale without holding
 * the chain in memory: one flat file per level (`level-NN.bin`, node i of
 * level L at byte 32*i), i.e. every perfect-subtree hash, 2n hashes (64 MB
 * per million records). A proof reads O(log n) hashes with pread; appending
 * is sequential and buffered.
 *
 * Crash safety: `meta.json` (size, head hash, base) is replaced atomically
 * after the level files are written and fsynced; whatever a crash leaves
 * beyond the size in meta.json is overwritten by the next appends (writes
 * are positional). A store may start at an anchor (an archived prefix): it
 * then holds that anchor's compact range only, and proofs that need an
 * archived leaf fail with INVALID_PROOF rather than return a wrong hash.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync, writeSync, constants } from 'node:fs';
import { join } from 'node:path';
import {
  compactRangeShape,
  consistencyProof,
  genesisHash,
  hashFromHex,
  inclusionProof,
  isCompactRangeNode,
  merkleLeafHash,
  fastLeafHash,
  fastNodeHash,
  rangeHash,
  rootFromCompactRange,
  toHex,
  type MerkleNodeSource,
} from '@hwledger/chain';
import { HwlError } from '@hwledger/core';
import { decodeHashList, encodeHashList } from './hex-list.js';
import type { TreeAnchor } from './tree-anchor.js';

const H = 32;

interface Meta {
  chain_id: string;
  size: string;
  head: string;
  base_size: string;
  base_hash: string;
  base_compact: string;
}

class LevelFile {
  private pend = new Uint8Array(H * 1024);
  private pendStart = 0;
  private pendCount = 0;
  private readonly scratch = new Uint8Array(H);

  constructor(readonly fd: number) {}

  set(i: number, h: Uint8Array): void {
    if (this.pendCount === 0) this.pendStart = i;
    else if (i !== this.pendStart + this.pendCount) throw new HwlError('INTERNAL', `non-sequential tree write at ${i}`);
    if ((this.pendCount + 1) * H > this.pend.length) {
      const next = new Uint8Array(this.pend.length * 2);
      next.set(this.pend);
      this.pend = next;
    }
    this.pend.set(h, this.pendCount * H);
    this.pendCount++;
  }

  get(i: number): Uint8Array | undefined {
    if (this.pendCount > 0 && i >= this.pendStart && i < this.pendStart + this.pendCount) {
      const o = (i - this.pendStart) * H;
      return this.pend.slice(o, o + H);
    }
    const n = readSync(this.fd, this.scratch, 0, H, i * H);
    if (n !== H) return undefined;
    for (let k = 0; k < H; k++) if (this.scratch[k] !== 0) return this.scratch.slice();
    return undefined; // a hole (never written)
  }

  writeAt(i: number, h: Uint8Array): void {
    writeSync(this.fd, h, 0, H, i * H);
  }

  flush(): void {
    if (this.pendCount === 0) return;
    writeSync(this.fd, this.pend, 0, this.pendCount * H, this.pendStart * H);
    this.pendCount = 0;
    if (this.pend.length > H * 65536) this.pend = new Uint8Array(H * 1024);
  }
}

export class FileMerkleStore implements MerkleNodeSource {
  private readonly levels: LevelFile[] = [];
  private count: number;
  private head: Uint8Array;
  private baseSize: number;
  private baseHash: Uint8Array;
  private baseCompact: Uint8Array[];

  private constructor(
    readonly dir: string,
    readonly chainId: string,
    meta: Meta | undefined,
  ) {
    this.count = meta ? Number(meta.size) : 0;
    this.head = meta ? hashFromHex(meta.head) : genesisHash(chainId);
    this.baseSize = meta ? Number(meta.base_size) : 0;
    this.baseHash = meta ? hashFromHex(meta.base_hash) : genesisHash(chainId);
    this.baseCompact = meta ? decodeHashList(meta.base_compact, 'tree store base') : [];
  }

  /** Opens (creating if missing) the tree store of a chain in `dir`. */
  static open(dir: string, chainId: string): FileMerkleStore {
    mkdirSync(dir, { recursive: true });
    const metaPath = join(dir, 'meta.json');
    let meta: Meta | undefined;
    if (existsSync(metaPath)) {
      try {
        meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Meta;
      } catch (e) {
        throw new HwlError('INTEGRITY', `tree store ${dir}: meta.json is not readable JSON (${e instanceof Error ? e.message : String(e)}); rebuild the store from the chain`);
      }
      if (meta === null || typeof meta !== 'object') throw new HwlError('INTEGRITY', `tree store ${dir}: meta.json is not an object; rebuild the store from the chain`);
      if (meta.chain_id !== chainId) throw new HwlError('CONFIG', `tree store ${dir} belongs to chain ${meta.chain_id}, not ${chainId}`);
    }
    return new FileMerkleStore(dir, chainId, meta);
  }

  get size(): bigint {
    return BigInt(this.count);
  }

  /** current_hash of the last record added (genesis / the base anchor's when none). */
  get headHash(): Uint8Array {
    return this.head;
  }

  get baseSequence(): bigint {
    return BigInt(this.baseSize);
  }

  private level(l: number): LevelFile {
    while (this.levels.length <= l) {
      const path = join(this.dir, `level-${String(this.levels.length).padStart(2, '0')}.bin`);
      this.levels.push(new LevelFile(openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644)));
    }
    return this.levels[l]!;
  }

  /** Starts an empty store at an anchor (its records are archived): only its compact range is kept. */
  seed(anchor: TreeAnchor): void {
    if (this.count !== 0) throw new HwlError('CONFLICT', 'only an empty tree store can start at an anchor');
    rootFromCompactRange(anchor.sequence, anchor.compact);
    compactRangeShape(anchor.sequence).forEach((s, i) => this.level(s.level).writeAt(Number(s.index), anchor.compact[i]!));
    this.count = Number(anchor.sequence);
    this.baseSize = this.count;
    this.baseHash = anchor.hash;
    this.baseCompact = anchor.compact.map((c) => c.slice());
    this.head = anchor.hash;
    this.flush();
  }

  /** Appends the next record's current_hash (call flush() to make it durable). */
  append(recordHash: Uint8Array): void {
    let i = this.count;
    let l = 0;
    let cur = recordHash.length === H ? fastLeafHash(recordHash) : merkleLeafHash(recordHash);
    this.level(0).set(i, cur);
    while ((i & 1) === 1) {
      const left = this.level(l).get(i - 1);
      if (!left) throw new HwlError('INTEGRITY', `tree store ${this.dir}: node ${l}/${i - 1} is missing`);
      cur = fastNodeHash(left, cur);
      i = (i - 1) / 2;
      l++;
      this.level(l).set(i, cur);
    }
    this.count++;
    this.head = recordHash;
  }

  /** Writes buffered nodes, fsyncs, then records the new size atomically. */
  flush(): void {
    for (const lf of this.levels) {
      lf.flush();
      fsyncSync(lf.fd);
    }
    const meta: Meta = {
      chain_id: this.chainId,
      size: String(this.count),
      head: toHex(this.head),
      base_size: String(this.baseSize),
      base_hash: toHex(this.baseHash),
      base_compact: encodeHashList(this.baseCompact),
    };
    const tmp = join(this.dir, 'meta.json.tmp');
    writeFileSync(tmp, JSON.stringify(meta));
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, join(this.dir, 'meta.json'));
    // The rename is durable only once the folder is: a power loss could otherwise take meta.json
    // back to a smaller size, whose records the stream may no longer hold (archival purges them).
    const dfd = openSync(this.dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }

  node(level: number, index: bigint): Uint8Array | undefined {
    const i = Number(index);
    const end = (i + 1) * 2 ** level;
    if (end > this.count) return undefined;
    if (end <= this.baseSize && !isCompactRangeNode(BigInt(this.baseSize), level, index)) return undefined;
    return this.level(level).get(i);
  }

  /** The leaf hash of record `sequence` (SHA-256(0x00 || current_hash)). */
  leafHash(sequence: bigint): Uint8Array | undefined {
    return sequence >= 1n ? this.node(0, sequence - 1n) : undefined;
  }

  root(size: bigint = this.size): Uint8Array {
    if (size > this.size) throw new HwlError('NOT_FOUND', `tree store has ${this.size} records, not ${size}`);
    return rangeHash(this, 0n, size);
  }

  compactRange(size: bigint = this.size): Uint8Array[] {
    return compactRangeShape(size).map((s) => rangeHash(this, s.index << BigInt(s.level), (s.index + 1n) << BigInt(s.level)));
  }

  inclusionProof(sequence: bigint, size: bigint): Uint8Array[] {
    if (size > this.size) throw new HwlError('NOT_FOUND', `tree store has ${this.size} records, not ${size}`);
    return inclusionProof(this, sequence - 1n, size);
  }

  consistencyProof(size1: bigint, size2: bigint): Uint8Array[] {
    if (size2 > this.size) throw new HwlError('NOT_FOUND', `tree store has ${this.size} records, not ${size2}`);
    return consistencyProof(this, size1, size2);
  }

  close(): void {
    for (const lf of this.levels) closeSync(lf.fd);
    this.levels.length = 0;
  }
}
