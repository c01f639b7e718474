/** Append-only big-endian writer (spec: "Primitives"). */
import { isWellFormed, utf8Length } from './bytes.js';

const encoder = new TextEncoder();
import { ChainError } from './errors.js';
import { I32_MAX, I32_MIN, U32_MAX, U64_MAX } from './limits.js';

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number, what = 'u8'): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new ChainError('INVALID_FIELD', `${what}: not a u8`);
    this.ensure(1);
    this.buf[this.len++] = v;
  }

  u32(v: number, what = 'u32'): void {
    if (!Number.isInteger(v) || v < 0 || v > U32_MAX) throw new ChainError('INVALID_FIELD', `${what}: not a u32`);
    this.ensure(4);
    this.view.setUint32(this.len, v, false);
    this.len += 4;
  }

  i32(v: number, what = 'i32'): void {
    if (!Number.isInteger(v) || v < I32_MIN || v > I32_MAX) throw new ChainError('INVALID_FIELD', `${what}: not an i32`);
    this.ensure(4);
    this.view.setInt32(this.len, v, false);
    this.len += 4;
  }

  u64(v: bigint, what = 'u64'): void {
    if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new ChainError('INVALID_FIELD', `${what}: not a u64 bigint`);
    this.ensure(8);
    this.view.setBigUint64(this.len, v, false);
    this.len += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /**
   * `str`: u32 byte length, then well-formed UTF-8 (lone surrogates are
   * rejected, as in utf8Encode). Written in place, without an intermediate
   * copy: ASCII byte by byte, anything else with TextEncoder.encodeInto.
   */
  str(s: string, what = 'str'): void {
    if (typeof s !== 'string') throw new ChainError('INVALID_FIELD', `${what}: not a string`);
    if (!isWellFormed(s)) throw new ChainError('INVALID_UTF8', `${what}: contains a lone surrogate`);
    const n = utf8Length(s);
    if (n > U32_MAX) throw new ChainError('INVALID_FIELD', `${what}: longer than u32`);
    this.ensure(4 + n);
    this.view.setUint32(this.len, n, false);
    this.len += 4;
    const buf = this.buf;
    const at = this.len;
    if (n === s.length) {
      for (let i = 0; i < n; i++) buf[at + i] = s.charCodeAt(i);
    } else {
      encoder.encodeInto(s, buf.subarray(at, at + n));
    }
    this.len += n;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  /** Empties the writer, keeping its buffer (reuse for the next value). */
  reset(): void {
    this.len = 0;
  }
}
