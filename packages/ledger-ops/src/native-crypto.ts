/**
 * node:crypto versions of the two hot cryptographic steps of a checkpointer
 * running inside the sequencer (docs/bench-proofs.md): the per-record Merkle
 * hashes and the Ed25519 signature of each checkpoint. @hwledger/chain keeps
 * pure-JS defaults (it runs in browsers); these compute the same bytes —
 * SHA-256 is SHA-256, and Ed25519 signatures are deterministic (RFC 8032
 * 5.1.6) — which native-crypto.unit.test.ts checks against the defaults.
 */
import { createPrivateKey, hash as nodeHash, sign as nodeSign, type KeyObject } from 'node:crypto';
import type { MerkleHasher, NoteSigner } from '@hwledger/chain';
import { nativeHash } from '@hwledger/native-hash';

// Scratch inputs, reused: RFC 9162 2.1.1 domain prefixes 0x00 (leaf) and 0x01 (node).
const leafIn = Buffer.alloc(33);
const nodeIn = Buffer.alloc(65);
nodeIn[0] = 0x01;

/**
 * The digest leaves node:crypto as a latin1 string (one char per byte), the
 * cheapest way out for 32 bytes; inputs are copied in and outputs out with
 * plain loops (measured faster at these sizes than a view object per hash or
 * Buffer's native copy).
 */
function putDigest(d: string, out: Uint8Array, off: number): void {
  for (let i = 0; i < 32; i++) out[off + i] = d.charCodeAt(i);
}

/** Through node:crypto: the fallback where the addon was not built. */
export const nodeCryptoMerkleHasher: MerkleHasher = {
  leafInto(src, at, out, off) {
    for (let k = 0; k < 32; k++) leafIn[1 + k] = src[at + k]!;
    putDigest(nodeHash('sha256', leafIn, 'binary'), out, off);
  },
  nodeInto(src, at, out, off) {
    for (let k = 0; k < 64; k++) nodeIn[1 + k] = src[at + k]!;
    putDigest(nodeHash('sha256', nodeIn, 'binary'), out, off);
  },
};

/**
 * Through @hwledger/native-hash's addon (about 0.11 µs a leaf and 0.15 µs a
 * node against 0.37 and 0.40 through node:crypto), or undefined where it was
 * not built.
 */
const leafSrc = new Uint8Array(new ArrayBuffer(32));
export const addonMerkleHasher: MerkleHasher | undefined = ((h) =>
  h && {
    // A leaf's input is often a record's fresh 32-byte hash, kept on the V8
    // heap: handed to the addon, it would first be moved off it (about 1 µs;
    // see NativeHash). Its 32 bytes go through a scratch with a backing store.
    leafInto: (src, at, out, off) => {
      for (let k = 0; k < 32; k++) leafSrc[k] = src[at + k]!;
      h.prefixedSha256Into(0x00, leafSrc, 0, 32, out, off);
    },
    nodeInto: (src, at, out, off) => h.prefixedSha256Into(0x01, src, at, 64, out, off),
  })(nativeHash);

/** The fastest hasher this process has: the addon, else node:crypto. */
export const nativeMerkleHasher: MerkleHasher = addonMerkleHasher ?? nodeCryptoMerkleHasher;

const b64url = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

/** The same signer, signing with node:crypto's Ed25519 (identical signatures, about 20 times faster than pure JS). */
export function withNativeSigning(signer: NoteSigner): NoteSigner {
  if (signer.sign) return signer;
  const key: KeyObject = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(signer.secretKey), x: b64url(signer.publicKey) }, format: 'jwk' });
  return { ...signer, sign: (msg) => new Uint8Array(nodeSign(null, msg, key)) };
}
