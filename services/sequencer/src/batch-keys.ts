/**
 * The event keys of one ingest message, to find an event that repeats an
 * earlier event of the same message (sealing-session.ts: such a message goes
 * the reference way, which dead-letters the repeat). A `Set` per message
 * cost about 34 ns per event (allocation, growth, string hashing); this
 * table is allocated once per session and reset per message by a stamp, at
 * about 8 ns per event.
 *
 * Keys are attacker-influenced (threat: a hostile agent chooses source and
 * event_id, so it can grind their SHA-256 for keys that share bits): the
 * slot comes from a multiplicative hash of the key's first eight characters
 * and a random per-process seed, so a producer cannot aim keys at one slot
 * and make a message's probes quadratic.
 */
import { randomInt } from 'node:crypto';

const INITIAL_SIZE = 256;
/** A table larger than this shrinks back when a message needs far less (no reallocation per message below it). */
const KEEP_SIZE = 4096;

export class BatchKeys {
  private stamps = new Int32Array(INITIAL_SIZE);
  private keys: (string | undefined)[] = new Array<string | undefined>(INITIAL_SIZE);
  private mask = INITIAL_SIZE - 1;
  private shift = 32 - Math.log2(INITIAL_SIZE);
  /** The current message's stamp (slots holding another stamp are free); never 0, the fill of a new table. */
  private stamp = 1;
  /** Keys added since reset(). */
  private used = 0;
  private readonly seed: number;

  /** `seed`: for tests only (the default is random per instance, which is the point). */
  constructor(seed: number = randomInt(1, 2 ** 31)) {
    this.seed = seed | 0;
  }

  /**
   * Starts a new message, sized for `count` keys (more may be added: the
   * table grows). The load stays at most one half. The keys of earlier
   * messages stay referenced until overwritten, at most one table's worth.
   */
  reset(count: number): void {
    const size = this.stamps.length;
    this.used = 0;
    if (count * 2 > size || (size > KEEP_SIZE && count * 16 < size)) {
      let next = INITIAL_SIZE;
      while (count * 2 > next) next *= 2;
      this.allocate(next);
      return;
    }
    if (this.stamp === 0x7fffffff) {
      this.stamps.fill(0);
      this.stamp = 0;
    }
    this.stamp++;
  }

  /** Adds `key`; false when it was added already since reset(). */
  add(key: string): boolean {
    if ((this.used + 1) * 2 > this.stamps.length) this.grow();
    const stamps = this.stamps;
    const keys = this.keys;
    const mask = this.mask;
    let i = this.slotOf(key);
    for (;;) {
      if (stamps[i] !== this.stamp) {
        stamps[i] = this.stamp;
        keys[i] = key;
        this.used++;
        return true;
      }
      if (keys[i] === key) return false;
      i = (i + 1) & mask;
    }
  }

  private allocate(size: number): void {
    this.stamps = new Int32Array(size);
    this.keys = new Array<string | undefined>(size);
    this.mask = size - 1;
    this.shift = 32 - Math.log2(size);
    this.stamp = 1;
  }

  /** Doubles the table, keeping the current message's keys. */
  private grow(): void {
    const { stamps, keys, stamp } = this;
    this.allocate(stamps.length * 2);
    this.used = 0;
    for (let i = 0; i < stamps.length; i++) {
      const k = keys[i];
      if (stamps[i] === stamp && k !== undefined) this.add(k);
    }
  }

  /** The longest distance of a key of this message from its slot (diagnostics and tests: how long probes can get). */
  maxProbeDistance(): number {
    let max = 0;
    for (let i = 0; i < this.stamps.length; i++) {
      const key = this.keys[i];
      if (this.stamps[i] !== this.stamp || key === undefined) continue;
      const d = (i - this.slotOf(key)) & this.mask;
      if (d > max) max = d;
    }
    return max;
  }

  private slotOf(key: string): number {
    // charCodeAt past the end is NaN, which `|` turns into 0: short keys are fine.
    const a = key.charCodeAt(0) | (key.charCodeAt(1) << 8) | (key.charCodeAt(2) << 16) | (key.charCodeAt(3) << 24);
    const b = key.charCodeAt(4) | (key.charCodeAt(5) << 8) | (key.charCodeAt(6) << 16) | (key.charCodeAt(7) << 24);
    const h = Math.imul(Math.imul(a ^ this.seed, 0x9e3779b1) ^ b, 0x85ebca6b) ^ key.length;
    // The high bits: they depend on every bit of the key's first eight characters.
    return Math.imul(h, 0xc2b2ae35) >>> this.shift;
  }
}
