/**
 * A bounded set of the most recently sealed event keys (recordMsgId(source,
 * event_id): 48 hex digits, i.e. 24 bytes of SHA-256), compared on their
 * first 16 bytes: the part a chain record's Nats-Msg-Id carries
 * (chain-msg-id.ts), so that a restarted sequencer can refill the set from
 * the chain's last ids. It catches agent-level
 * duplicates: the same (source, event_id) published again as a *different*
 * ingest message, after the ingest stream's duplicate window has forgotten it.
 *
 * Horizon (documented in docs/sequencer.md): the last `capacity` sealed
 * records. Older duplicates are sealed again: the chain is a ledger of what
 * producers sent, and billing consumers deduplicate on (source, event_id) as
 * the last line of defence.
 *
 * Memory is fixed at construction: a ring of `capacity` 16-byte keys and an
 * open-addressing table (linear probing, load ≤ 0.5, backward-shift
 * deletion) of ring indexes, each beside its hash: probes and deletions
 * compare and re-home entries from the table alone, and read a key from the
 * ring only when the hashes match (one cache miss per lookup instead of one
 * per probed entry; the ring is written and evicted in order).
 *
 * The hash is the key's first four bytes mixed with a random per-process
 * seed, and the home slot is its top bits. Keys are SHA-256 digests of
 * producer-chosen strings (threat: a hostile agent grinds source/event_id
 * values whose digests share the bits that pick the slot, and piles its
 * events into one probe run that every later lookup walks). Were the slot
 * the digest's own low bits, each such key would cost about 2^18 tries at
 * the default 100,000 keys; seeded, aiming at a slot takes a full 32-bit
 * collision per key. Nothing is allocated per key, so the
 * sequencer's RSS is flat however long the chain grows, and the garbage
 * collector never scans 100,000 small strings.
 */
import { hash as nodeHash, randomInt } from 'node:crypto';

/** Bytes of a key compared and kept: the part of it in a record's Nats-Msg-Id. */
const KEY_BYTES = 16;
/** Bytes of a whole event key (a binary key: one latin1 char per byte). */
const EVENT_KEY_BYTES = 24;

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

export class RecentIds {
  private readonly ring: Uint8Array;
  /** Pairs: [ring index + 1 (0 = empty), the key's first 4 bytes as an int32]. */
  private readonly table: Int32Array;
  private readonly mask: number;
  /** 32 - log2(table size): the home slot is the hash's top bits. */
  private readonly shift: number;
  private readonly seed = randomInt(0, 2 ** 31);
  private count = 0;
  private pos = 0;
  private readonly scratch = new Uint8Array(KEY_BYTES);
  /** The id whose bytes are in scratch. */
  private loaded: string | undefined;
  /** The binary key whose bytes are in scratch. */
  private loadedBinary: string | undefined;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('RecentIds capacity must be a positive integer');
    this.ring = new Uint8Array(capacity * KEY_BYTES);
    let size = 2;
    while (size < capacity * 2) size *= 2;
    this.table = new Int32Array(size * 2);
    this.mask = size - 1;
    this.shift = 32 - Math.log2(size);
  }

  get size(): number {
    return this.count;
  }

  /**
   * Writes the first 16 key bytes of `id` into scratch: a whole key (48 hex
   * digits) or its first 16 bytes (32 digits, from a record's id:
   * eventKeyOfMsgId); anything else is hashed.
   */
  private load(id: string): void {
    if (id === this.loaded) return; // has() then add() of the same key
    const b = this.scratch;
    let ok = id.length === EVENT_KEY_BYTES * 2 || id.length === KEY_BYTES * 2;
    for (let i = 0; ok && i < id.length / 2; i++) {
      const hi = nibble(id.charCodeAt(2 * i));
      const lo = nibble(id.charCodeAt(2 * i + 1));
      if (hi < 0 || lo < 0) ok = false;
      else if (i < KEY_BYTES) b[i] = (hi << 4) | lo;
    }
    if (!ok) b.set(Buffer.from(nodeHash('sha256', id, 'buffer')).subarray(0, KEY_BYTES));
    this.loaded = id;
    this.loadedBinary = undefined;
  }

  /**
   * A key's hash from its first 4 bytes: xor with the seed, times an odd
   * constant (mod 2^32). Both steps are one-to-one, so equal hashes still
   * mean equal first 4 bytes; the product's top bits depend on all 32 bits.
   */
  private mix(first4: number): number {
    return Math.imul(first4 ^ this.seed, 0x9e3779b1);
  }

  /** The hash of the key in ring slot `ringIndex`. */
  private ringHash(ringIndex: number): number {
    const o = ringIndex * KEY_BYTES;
    const r = this.ring;
    return this.mix((r[o]! << 24) | (r[o + 1]! << 16) | (r[o + 2]! << 8) | r[o + 3]!);
  }

  private scratchHash(): number {
    const b = this.scratch;
    return this.mix((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!);
  }

  /** The table slot a hash starts probing at. */
  private home(h: number): number {
    return h >>> this.shift;
  }

  /** The longest distance of an entry from its home slot (diagnostics and tests: how long probes can get). */
  maxProbeDistance(): number {
    const t = this.table;
    let max = 0;
    for (let i = 0; i <= this.mask; i++) {
      if (t[2 * i] === 0) continue;
      const d = (i - this.home(t[2 * i + 1]!)) & this.mask;
      if (d > max) max = d;
    }
    return max;
  }

  private equalsScratch(ringIndex: number): boolean {
    const o = ringIndex * KEY_BYTES;
    const r = this.ring;
    const b = this.scratch;
    for (let i = 0; i < KEY_BYTES; i++) if (r[o + i] !== b[i]) return false;
    return true;
  }

  /** Table slot holding the scratch key, or -1. */
  private find(): number {
    const h = this.scratchHash();
    const t = this.table;
    let i = this.home(h);
    for (;;) {
      const e = t[2 * i]!;
      if (e === 0) return -1;
      if (t[2 * i + 1] === h && this.equalsScratch(e - 1)) return i;
      i = (i + 1) & this.mask;
    }
  }

  /** Writes the first 16 bytes of a key given as its 24 bytes in a latin1 string (one char per byte) into scratch. */
  private loadBinary(key: string): void {
    if (key === this.loadedBinary) return;
    if (key.length !== EVENT_KEY_BYTES) throw new RangeError(`a binary key has ${EVENT_KEY_BYTES} bytes`);
    const b = this.scratch;
    for (let i = 0; i < KEY_BYTES; i++) b[i] = key.charCodeAt(i) & 0xff;
    this.loaded = undefined;
    this.loadedBinary = key;
  }

  has(id: string): boolean {
    this.load(id);
    return this.find() >= 0;
  }

  /** has() for a key given as its 24 bytes (latin1 string): the same key as its 48 hex digits. */
  hasBinary(key: string): boolean {
    this.loadBinary(key);
    return this.find() >= 0;
  }

  /** Remembers `id`, forgetting the oldest id when full. */
  add(id: string): void {
    this.load(id);
    this.addLoaded();
  }

  /** add() for a key given as its 24 bytes (latin1 string). */
  addBinary(key: string): void {
    this.loadBinary(key);
    this.addLoaded();
  }

  /**
   * addBinary() for a key the caller has just found absent with hasBinary()
   * and added nothing equal since (the sealing hot path): skips the second
   * probe. Adding a present key this way would only waste a slot: lookups
   * and eviction stay correct.
   */
  addBinaryAbsent(key: string): void {
    this.loadBinary(key);
    this.insertLoaded();
  }

  private addLoaded(): void {
    if (this.find() >= 0) return;
    this.insertLoaded();
  }

  private insertLoaded(): void {
    const slot = this.pos;
    if (this.count === this.capacity) this.evict(slot);
    else this.count++;
    this.ring.set(this.scratch, slot * KEY_BYTES);
    const h = this.scratchHash();
    const t = this.table;
    let i = this.home(h);
    while (t[2 * i] !== 0) i = (i + 1) & this.mask;
    t[2 * i] = slot + 1;
    t[2 * i + 1] = h;
    this.pos = (slot + 1) % this.capacity;
  }

  /** Removes the table entry of ring slot `slot` (backward-shift deletion). */
  private evict(slot: number): void {
    const t = this.table;
    let i = this.home(this.ringHash(slot));
    while (t[2 * i] !== slot + 1) i = (i + 1) & this.mask;
    t[2 * i] = 0;
    let j = i;
    for (;;) {
      j = (j + 1) & this.mask;
      const e = t[2 * j]!;
      if (e === 0) return;
      const k = this.home(t[2 * j + 1]!);
      // Move e back into the hole if its home is not cyclically in (i, j].
      const inRange = i <= j ? k > i && k <= j : k > i || k <= j;
      if (!inRange) {
        t[2 * i] = e;
        t[2 * i + 1] = t[2 * j + 1]!;
        t[2 * j] = 0;
        i = j;
      }
    }
  }

  clear(): void {
    this.loaded = undefined;
    this.loadedBinary = undefined;
    this.table.fill(0);
    this.count = 0;
    this.pos = 0;
  }
}
