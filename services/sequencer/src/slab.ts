/**
 * Bump allocation of short-lived byte arrays for the append hot path. In V8
 * every `new Uint8Array(n)` above 64 bytes gets its own off-heap backing
 * store (about 0.3-0.7 µs each, plus garbage-collector bookkeeping); a record
 * needed three of them. A view into a shared 64 KiB chunk costs a few tens of
 * nanoseconds. A chunk is freed when no view into it is left, so views must
 * not be kept for long: the sequencer hands onSealed hooks copies
 * (sealing-session.ts), and keeps views only while a record is in flight.
 */
const CHUNK = 64 * 1024;

export class Slab {
  /** The current chunk; write at `at`, then take(). */
  buf = new Uint8Array(CHUNK);
  at = 0;

  /** Makes sure `n` bytes are free at `at` (a fresh chunk if not). */
  room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    this.buf = new Uint8Array(Math.max(CHUNK, n));
    this.at = 0;
  }

  /** The `n` bytes at `at` as a view of their own; advances past them. */
  take(n: number): Uint8Array {
    const v = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.at, n);
    this.at += n;
    return v;
  }
}
