/**
 * Signed checkpoints in the C2SP tlog-checkpoint / signed-note format, so an
 * auditor who does not trust the storage provider can check a chain head:
 *
 *   hwledger/<chain_id>          origin
 *   <sequence>                   tree size = records sealed
 *   <base64 Merkle root>         RFC 9162 root over record hashes 1..sequence
 *   head <hex current_hash>      extension: hash of the record at <sequence>
 *   time <unix ms>               extension: when issued
 *   <blank line>
 *   — <key name> <base64(key id[4] || Ed25519 signature[64])>   one per signer
 *
 * Key id = SHA-256(key name || "\n" || 0x01 || public key)[0:4] (signed-note).
 * Several signature lines are allowed: that is how keys rotate.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, constantTimeEqual, fromHex, toHex, utf8Encode } from './bytes.js';
import { ChainError } from './errors.js';
import { parseU64 } from './json.js';

export interface Checkpoint {
  chainId: string;
  sequence: bigint;
  headHash: Uint8Array;
  rootHash: Uint8Array;
  timeMs: bigint;
}

export interface NoteSignature {
  keyName: string;
  keyId: Uint8Array;
  signature: Uint8Array;
}

export interface SignedCheckpoint {
  checkpoint: Checkpoint;
  /** The exact signed text (body), ending in "\n". */
  body: string;
  signatures: NoteSignature[];
  /** The whole note: body, blank line, signature lines. */
  note: string;
}

export interface NoteSigner {
  name: string;
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  keyId: Uint8Array;
  /**
   * Optional faster Ed25519 over the same key (a Node process passes
   * node:crypto's: @hwledger/ledger-ops withNativeSigning, which the
   * Checkpointer applies to its signers). Ed25519 signatures are
   * deterministic (RFC 8032), so it must return exactly what
   * ed25519.sign(msg, secretKey) returns; without it, @noble/curves signs.
   */
  sign?: (msg: Uint8Array) => Uint8Array;
}

export interface NoteVerifier {
  name: string;
  publicKey: Uint8Array;
  keyId: Uint8Array;
  /**
   * The chains this key may sign for (origin `hwledger/<chain id>`); absent =
   * unbound. Threat: cross-region forgery. A verifier trusting the keys of
   * several regions would otherwise accept a checkpoint of eu-west-1 signed
   * with us-east-1's key, so the holder of one region's private key could
   * extend another region's checkpoint log with records of its own making.
   * verifyCheckpoint uses a bound key only for the origins it is bound to.
   * An unbound key is accepted for any origin, which is safe only where
   * exactly one chain is verified: callers verifying several chains must
   * refuse unbound keys (the key text itself carries no origin).
   */
  chains?: readonly string[];
}

const ED25519_ALG = 0x01;
const KEY_NAME_RE = /^[^\s+]+$/;
const EM_DASH = '\u2014';

function b64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function unb64(text: string, what: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new ChainError('INVALID_CHECKPOINT', `${what}: not base64`);
  }
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function noteKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  return sha256(concatBytes(utf8Encode(name), Uint8Array.of(0x0a, ED25519_ALG), publicKey)).slice(0, 4);
}

function checkKeyName(name: string): void {
  if (!KEY_NAME_RE.test(name)) throw new ChainError('INVALID_SIGNATURE', `key name ${JSON.stringify(name)} must be non-empty with no spaces or '+'`);
}

/** A signer from a 32-byte Ed25519 seed. */
export function signerFromSeed(name: string, seed: Uint8Array): NoteSigner {
  checkKeyName(name);
  if (seed.length !== 32) throw new ChainError('INVALID_SIGNATURE', 'Ed25519 seed must be 32 bytes');
  const publicKey = ed25519.getPublicKey(seed);
  return { name, secretKey: seed.slice(), publicKey, keyId: noteKeyId(name, publicKey) };
}

export function generateSigner(name: string): NoteSigner {
  return signerFromSeed(name, ed25519.utils.randomSecretKey());
}

export function verifierOf(signer: NoteSigner): NoteVerifier {
  return { name: signer.name, publicKey: signer.publicKey, keyId: signer.keyId };
}

/** signed-note verifier key text: `<name>+<hex key id>+<base64(0x01 || public key)>`. */
export function formatVerifierKey(v: NoteVerifier): string {
  return `${v.name}+${toHex(v.keyId)}+${b64(concatBytes(Uint8Array.of(ED25519_ALG), v.publicKey))}`;
}

export function parseVerifierKey(text: string): NoteVerifier {
  // The base64 key may itself contain '+': split at the first two only (signed-note).
  const parts = text.trim().split('+');
  if (parts.length < 3) throw new ChainError('INVALID_SIGNATURE', 'verifier key must be <name>+<hex id>+<base64 key>');
  const [name, idHex] = parts as [string, string];
  const keyB64 = parts.slice(2).join('+');
  checkKeyName(name);
  const raw = unb64(keyB64, 'verifier key');
  if (raw.length !== 33 || raw[0] !== ED25519_ALG) throw new ChainError('INVALID_SIGNATURE', 'verifier key is not an Ed25519 key');
  const publicKey = raw.slice(1);
  const keyId = noteKeyId(name, publicKey);
  let claimed: Uint8Array;
  try {
    claimed = fromHex(idHex, 'key id');
  } catch {
    throw new ChainError('INVALID_SIGNATURE', 'verifier key id is not hex');
  }
  if (!constantTimeEqual(claimed, keyId)) throw new ChainError('INVALID_SIGNATURE', 'verifier key id does not match its key');
  return { name, publicKey, keyId };
}

/** signed-note signer key text: `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`. */
export function formatSignerKey(s: NoteSigner): string {
  return `PRIVATE+KEY+${s.name}+${toHex(s.keyId)}+${b64(concatBytes(Uint8Array.of(ED25519_ALG), s.secretKey))}`;
}

export function parseSignerKey(text: string): NoteSigner {
  // The base64 key may itself contain '+': split at the first four only (signed-note).
  const parts = text.trim().split('+');
  if (parts.length < 5 || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY') {
    throw new ChainError('INVALID_SIGNATURE', 'signer key must be PRIVATE+KEY+<name>+<hex id>+<base64 key>');
  }
  const raw = unb64(parts.slice(4).join('+'), 'signer key');
  if (raw.length !== 33 || raw[0] !== ED25519_ALG) throw new ChainError('INVALID_SIGNATURE', 'signer key is not an Ed25519 key');
  const s = signerFromSeed(parts[2]!, raw.slice(1));
  if (toHex(s.keyId) !== parts[3]) throw new ChainError('INVALID_SIGNATURE', 'signer key id does not match its key');
  return s;
}

export function formatCheckpointBody(cp: Checkpoint): string {
  if (cp.headHash.length !== 32 || cp.rootHash.length !== 32) {
    throw new ChainError('INVALID_CHECKPOINT', 'head and root hashes must be 32 bytes');
  }
  return `hwledger/${cp.chainId}\n${cp.sequence}\n${b64(cp.rootHash)}\nhead ${toHex(cp.headHash)}\ntime ${cp.timeMs}\n`;
}

export function parseCheckpointBody(body: string): Checkpoint {
  const lines = body.split('\n');
  if (lines.length !== 6 || lines[5] !== '') throw new ChainError('INVALID_CHECKPOINT', 'checkpoint body must be 5 lines ending in a newline');
  const [origin, size, root, head, time] = lines as [string, string, string, string, string];
  if (!origin.startsWith('hwledger/') || origin.length === 'hwledger/'.length) {
    throw new ChainError('INVALID_CHECKPOINT', 'origin must be hwledger/<chain_id>');
  }
  if (!head.startsWith('head ') || !time.startsWith('time ')) throw new ChainError('INVALID_CHECKPOINT', 'missing head or time line');
  let sequence: bigint;
  let timeMs: bigint;
  let headHash: Uint8Array;
  try {
    sequence = parseU64(size, 'tree size');
    timeMs = parseU64(time.slice(5), 'time');
    headHash = fromHex(head.slice(5), 'head');
  } catch (e) {
    throw new ChainError('INVALID_CHECKPOINT', e instanceof Error ? e.message : String(e));
  }
  const rootHash = unb64(root, 'root hash');
  if (rootHash.length !== 32 || headHash.length !== 32) throw new ChainError('INVALID_CHECKPOINT', 'head and root hashes must be 32 bytes');
  return { chainId: origin.slice('hwledger/'.length), sequence, headHash, rootHash, timeMs };
}

/** Signs a checkpoint with one or more keys (several = key rotation). */
export function signCheckpoint(cp: Checkpoint, signers: readonly NoteSigner[]): SignedCheckpoint {
  if (signers.length === 0) throw new ChainError('INVALID_SIGNATURE', 'at least one signer is required');
  const body = formatCheckpointBody(cp);
  const msg = utf8Encode(body);
  const signatures = signers.map((s) => ({ keyName: s.name, keyId: s.keyId, signature: s.sign ? s.sign(msg) : ed25519.sign(msg, s.secretKey) }));
  const note = `${body}\n${signatures.map((s) => `${EM_DASH} ${s.keyName} ${b64(concatBytes(s.keyId, s.signature))}\n`).join('')}`;
  return { checkpoint: cp, body, signatures, note };
}

/** Splits a signed note into body and signature lines, without verifying. */
export function parseSignedCheckpoint(note: string): SignedCheckpoint {
  const split = note.indexOf('\n\n');
  if (split < 0) throw new ChainError('INVALID_CHECKPOINT', 'signed note must have a blank line before its signatures');
  const body = note.slice(0, split + 1);
  const sigText = note.slice(split + 2);
  if (!sigText.endsWith('\n')) throw new ChainError('INVALID_CHECKPOINT', 'signed note must end in a newline');
  const signatures: NoteSignature[] = [];
  for (const line of sigText.slice(0, -1).split('\n')) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new ChainError('INVALID_CHECKPOINT', 'malformed signature line');
    const raw = unb64(m[2]!, 'signature');
    if (raw.length !== 68) throw new ChainError('INVALID_CHECKPOINT', 'signature must be 4-byte key id + 64-byte Ed25519 signature');
    signatures.push({ keyName: m[1]!, keyId: raw.slice(0, 4), signature: raw.slice(4) });
  }
  if (signatures.length === 0) throw new ChainError('INVALID_CHECKPOINT', 'signed note has no signatures');
  return { checkpoint: parseCheckpointBody(body), body, signatures, note };
}

/** Whether `key` may sign checkpoints of `chainId` (unbound keys: any chain). */
export function keyMaySignFor(key: NoteVerifier, chainId: string): boolean {
  return key.chains === undefined || key.chains.includes(chainId);
}

/**
 * Verifies a signed checkpoint against trusted keys. Succeeds when at least
 * one signature by a key trusted for the checkpoint's origin verifies and no
 * signature by such a key fails; signatures by unknown keys are ignored
 * (signed-note rules), and so are those by keys bound to other chains
 * (threat: one region's key signing another region's checkpoints; see
 * NoteVerifier.chains).
 */
export function verifyCheckpoint(note: string, trusted: readonly NoteVerifier[]): SignedCheckpoint & { verifiedBy: string[] } {
  const parsed = parseSignedCheckpoint(note);
  const chainId = parsed.checkpoint.chainId;
  const msg = utf8Encode(parsed.body);
  const verifiedBy: string[] = [];
  const boundElsewhere: string[] = [];
  for (const sig of parsed.signatures) {
    const known = trusted.filter((k) => k.name === sig.keyName && constantTimeEqual(k.keyId, sig.keyId));
    if (known.length === 0) continue;
    // The same key may be listed several times with different bindings.
    const key = known.find((k) => keyMaySignFor(k, chainId));
    if (!key) {
      boundElsewhere.push(`${sig.keyName} (trusted for ${[...new Set(known.flatMap((k) => k.chains ?? []))].join(', ') || 'no chain'})`);
      continue;
    }
    let ok = false;
    try {
      ok = ed25519.verify(sig.signature, msg, key.publicKey);
    } catch {
      ok = false;
    }
    if (!ok) throw new ChainError('INVALID_SIGNATURE', `signature by ${sig.keyName} does not verify`);
    verifiedBy.push(sig.keyName);
  }
  if (verifiedBy.length === 0) {
    const why = boundElsewhere.length > 0 ? `; signed by ${boundElsewhere.join(', ')}, not for this origin` : '';
    throw new ChainError('INVALID_SIGNATURE', `no signature by a trusted key for origin hwledger/${chainId}${why}`);
  }
  return { ...parsed, verifiedBy };
}
