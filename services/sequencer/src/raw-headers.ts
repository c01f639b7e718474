/**
 * Pre-encoded NATS message headers for the append hot path. nats.js's
 * MsgHdrs validates and re-serialises every header on every publish; with
 * eight headers per record that costs more than hashing the record. All our
 * header names and values are ASCII we produce ourselves (hex digests,
 * decimal numbers, hex ids), so the block is built with one concatenation and
 * one latin1 encode. nats.js only calls `encode()` on the headers of an
 * outgoing message; the read methods are implemented for completeness.
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import type { Slab } from './slab.js';

const SAFE = /^[\x21-\x7e]*$/;

export class RawHeaders {
  private readonly text: string;

  /**
   * `pairs` of [name, value]; values must be printable ASCII without spaces
   * at the ends. With a `slab`, encode() writes into it (slab.ts) instead of
   * a new array: for a publish, whose bytes nats.js copies out at once.
   */
  constructor(
    private readonly pairs: readonly (readonly [string, string])[],
    private readonly slab?: Slab,
  ) {
    let s = 'NATS/1.0\r\n';
    for (const [k, v] of pairs) s += `${k}: ${v}\r\n`;
    this.text = `${s}\r\n`;
  }

  /** Like the constructor, but rejects anything that could break the header block. */
  static checked(pairs: readonly (readonly [string, string])[]): RawHeaders {
    for (const [k, v] of pairs) {
      if (!SAFE.test(k) || k.includes(':') || !/^[\x20-\x7e]*$/.test(v)) throw new Error(`header ${JSON.stringify(k)} is not plain ASCII`);
    }
    return new RawHeaders(pairs);
  }

  encode(): Uint8Array {
    const t = this.text;
    const slab = this.slab;
    if (slab) {
      slab.room(t.length);
      const b = slab.buf;
      const at = slab.at;
      for (let i = 0; i < t.length; i++) b[at + i] = t.charCodeAt(i);
      return slab.take(t.length);
    }
    const out = new Uint8Array(t.length);
    for (let i = 0; i < t.length; i++) out[i] = t.charCodeAt(i);
    return out;
  }

  get(k: string): string {
    for (const [n, v] of this.pairs) if (n === k) return v;
    return '';
  }

  has(k: string): boolean {
    return this.pairs.some(([n]) => n === k);
  }

  toString(): string {
    return this.text;
  }

  /** Typed as MsgHdrs for nats.js publish options. */
  asMsgHdrs(): MsgHdrs {
    return this as unknown as MsgHdrs;
  }
}
