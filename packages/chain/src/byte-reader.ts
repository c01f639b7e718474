/**
 * Bounds-checked big-endian reader. Its input is attacker-controlled (stream
 * bodies, export files, stdin): every read checks the remaining length before
 * touching or allocating anything, and fails with a typed error and offset.
 */
import { utf8Decode } from './bytes.js';
import { ChainError } from './errors.js';

export class ByteReader {
  private readonly view: DataView;
  private pos = 0;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.remaining < n) {
      throw new ChainError('TRUNCATED', `${what}: needs ${n} bytes, ${this.remaining} left`, this.pos);
    }
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, false);
    this.pos += 4;
    return v;
  }

  i32(what = 'i32'): number {
    this.need(4, what);
    const v = this.view.getInt32(this.pos, false);
    this.pos += 4;
    return v;
  }

  u64(what = 'u64'): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, false);
    this.pos += 8;
    return v;
  }

  str(what = 'str'): string {
    const at = this.pos;
    const n = this.u32(`${what} length`);
    this.need(n, what);
    const s = utf8Decode(this.buf.subarray(this.pos, this.pos + n), what, at);
    this.pos += n;
    return s;
  }

  end(what = 'record'): void {
    if (this.remaining !== 0) {
      throw new ChainError('TRAILING_BYTES', `${what}: ${this.remaining} trailing bytes`, this.pos);
    }
  }
}
