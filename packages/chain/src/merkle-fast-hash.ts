/**
 * RFC 9162 leaf and node hashes (merkle.ts) specialised for their fixed
 * sizes: a leaf is SHA-256 of 33 bytes (one block), a node SHA-256 of 65
 * bytes (two blocks). The general-purpose SHA-256 pays for object creation,
 * buffering and padding on every call; the Merkle tree of a sequencer pays
 * it twice per sealed record. This computes the same digests (tested against
 * @noble/hashes on random inputs) with preallocated state and no allocation
 * but the 32-byte result. Pure JS: runs in browsers like the rest of the
 * library.
 */

const K = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = Uint32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

const W = new Uint32Array(64);
const S = new Uint32Array(8);

/** One SHA-256 compression of W[0..15] into S. */
function compress(): void {
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15]!;
    const w2 = W[i - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = S[0]!;
  let b = S[1]!;
  let c = S[2]!;
  let d = S[3]!;
  let e = S[4]!;
  let f = S[5]!;
  let g = S[6]!;
  let h = S[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + K[i]! + W[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  S[0] = (S[0]! + a) | 0;
  S[1] = (S[1]! + b) | 0;
  S[2] = (S[2]! + c) | 0;
  S[3] = (S[3]! + d) | 0;
  S[4] = (S[4]! + e) | 0;
  S[5] = (S[5]! + f) | 0;
  S[6] = (S[6]! + g) | 0;
  S[7] = (S[7]! + h) | 0;
}

function digestInto(out: Uint8Array, off: number): void {
  for (let i = 0; i < 8; i++) {
    const v = S[i]!;
    out[off + 4 * i] = v >>> 24;
    out[off + 4 * i + 1] = (v >>> 16) & 0xff;
    out[off + 4 * i + 2] = (v >>> 8) & 0xff;
    out[off + 4 * i + 3] = v & 0xff;
  }
}

/**
 * Loads the 32 bytes of (prefix || x[at..at+31)) as words W[w..w+8) and
 * returns x[at+31], which starts the next word.
 */
function loadShifted(x: Uint8Array, at: number, prefix: number, w: number): number {
  W[w] = ((prefix << 24) | (x[at]! << 16) | (x[at + 1]! << 8) | x[at + 2]!) >>> 0;
  for (let i = 1; i < 8; i++) W[w + i] = ((x[at + 4 * i - 1]! << 24) | (x[at + 4 * i]! << 16) | (x[at + 4 * i + 1]! << 8) | x[at + 4 * i + 2]!) >>> 0;
  return x[at + 31]!;
}

/** SHA-256(0x00 || data) for 32-byte data: the RFC 9162 leaf hash of a record hash. */
export function fastLeafHash(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  leafAt(data, 0, out, 0);
  return out;
}

/** SHA-256(0x01 || left || right) for 32-byte children: the RFC 9162 node hash. */
export function fastNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  S.set(IV);
  const carry = loadShifted(left, 0, 0x01, 0);
  nodeTail(carry, right, 0, out, 0);
  return out;
}

/** fastLeafHash of src[at..at+32) written into out[off..off+32) (no allocation). */
function leafAt(src: Uint8Array, at: number, out: Uint8Array, off: number): void {
  S.set(IV);
  const last = loadShifted(src, at, 0x00, 0);
  W[8] = ((last << 24) | 0x800000) >>> 0; // byte 32 of data, then the 0x80 pad
  for (let i = 9; i < 15; i++) W[i] = 0;
  W[15] = 33 * 8;
  compress();
  digestInto(out, off);
}

/** The node hash of the two adjacent children src[at..at+64) written into out[off..off+32) (out may not overlap src). */
function nodeAt(src: Uint8Array, at: number, out: Uint8Array, off: number): void {
  S.set(IV);
  const carry = loadShifted(src, at, 0x01, 0);
  nodeTail(carry, src, at + 32, out, off);
}

/** Second half of a node hash: the right child from r[at..at+32) after the left's last byte `carry`. */
function nodeTail(carry: number, r: Uint8Array, at: number, out: Uint8Array, off: number): void {
  // Word 8 starts with the last byte of left, then right[0..2]; continue right shifted by one.
  W[8] = ((carry << 24) | (r[at]! << 16) | (r[at + 1]! << 8) | r[at + 2]!) >>> 0;
  for (let i = 1; i < 8; i++) W[8 + i] = ((r[at + 4 * i - 1]! << 24) | (r[at + 4 * i]! << 16) | (r[at + 4 * i + 1]! << 8) | r[at + 4 * i + 2]!) >>> 0;
  compress();
  // Second block: right[31], 0x80 pad, zeros, length 65*8 bits.
  W[0] = ((r[at + 31]! << 24) | 0x800000) >>> 0;
  for (let i = 1; i < 15; i++) W[i] = 0;
  W[15] = 65 * 8;
  compress();
  digestInto(out, off);
}

/**
 * The two fixed-size hashes an append-only tree computes per leaf, read from
 * and written into flat buffers (no view object per hash). MemoryMerkleTree
 * takes one: this pure-JS default runs anywhere; a Node process may pass a
 * native one (@hwledger/ledger-ops nativeMerkleHasher) that must compute the
 * same digests.
 */
export interface MerkleHasher {
  /** RFC 9162 leaf hash of the 32-byte record hash src[at..at+32): SHA-256(0x00 || data), into out[off..off+32). */
  leafInto(src: Uint8Array, at: number, out: Uint8Array, off: number): void;
  /** RFC 9162 node hash of two adjacent children src[at..at+64): SHA-256(0x01 || left || right), into out[off..off+32), which may not overlap src. */
  nodeInto(src: Uint8Array, at: number, out: Uint8Array, off: number): void;
}

export const jsMerkleHasher: MerkleHasher = { leafInto: leafAt, nodeInto: nodeAt };
