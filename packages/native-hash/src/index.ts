/**
 * SHA-256 of (optional one-byte prefix || src[at, at+len)) written straight
 * into out[off, off+32): no digest object, string or view per hash. The Merkle
 * tree hashes two such inputs per record (RFC 9162 2.1.1: 0x00 leaf, 0x01
 * node), the sequencer two more (no prefix: the chain link and the event
 * key), and through node:crypto each hash cost about 0.37 µs, most of it
 * around the digest rather than in it; the addon (src/native-hash.c, OpenSSL's
 * SHA256_Init/Update/Final from the Node.js binary itself) takes about
 * 0.11 µs for a leaf and 0.15 µs for a node on the same machine.
 *
 * The addon is optional: `nativeHash` is undefined where it was not built
 * (scripts/build-addon.mjs says why) or when HWL_NATIVE_HASH=0, and callers
 * then use node:crypto. Both compute the same bytes (test/native-hash.unit.test.ts).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Pass arrays that already have a backing store of their own: views of an
 * ArrayBuffer, Buffers, arrays of more than 64 bytes. V8 keeps a typed array
 * of up to 64 bytes made with `new Uint8Array(n)` on its heap, and N-API must
 * move its bytes off the heap before the addon can see them: about 1 µs on
 * each call with a fresh one (measured 1.45 µs a hash against 0.42 µs with a
 * reused scratch and a 32-byte copy, on 2 × AMD EPYC, 2026-12-07).
 */
export interface NativeHash {
  /**
   * prefix: -1 for none, else a byte. Throws TypeError or
   * RangeError (message starting with ERR_NATIVE_HASH_ARGS) and writes
   * nothing when an argument is not a Uint8Array or a range is out of bounds.
   */
  prefixedSha256Into(prefix: number, src: Uint8Array, at: number, len: number, out: Uint8Array, off: number): void;
}

/**
 * The sequencer's ingest transcoder (src/ingest-transcode.c; its contract,
 * table format and return codes are documented there, and its one caller is
 * services/sequencer/src/fast-ingest.ts). Returns the number of events,
 * -1 (not plain: use the reference path) or -2 (an output too small).
 * Throws TypeError/RangeError (ERR_NATIVE_ARGS) on arguments of the wrong
 * type or a malformed table, and then writes nothing.
 */
/**
 * The sequencer's chain link and header block of one record
 * (src/record-link.c documents the arguments and the state's layout; its one
 * caller is services/sequencer/src/sealing-session.ts, its state is made by
 * record-headers.ts). Returns the header block's length. Throws
 * TypeError/RangeError (ERR_NATIVE_ARGS) and writes nothing on a bad argument.
 */
export type SealLink = (buf: Uint8Array, recAt: number, recLen: number, hdrAt: number, nums: Float64Array, state: Uint8Array) => number;

export type TranscodeIngest = (body: Uint8Array, table: Uint8Array, limits: Int32Array, out: Uint8Array, desc: Int32Array, keys: Uint8Array, owner: Uint8Array | null) => number;

/** The transcoder contract this code calls (the addon's `transcodeIngestVersion`; 2 added `owner`). */
export const TRANSCODE_INGEST_VERSION = 2;

/** Where scripts/build-addon.mjs puts the addon. */
export const ADDON_PATH = fileURLToPath(new URL('../dist/hwl_native_hash.node', import.meta.url)); // from src/ (tests) and dist/ alike

/**
 * Loads the addon at `path`. Never throws: a missing file, HWL_NATIVE_HASH=0,
 * a file that does not load (another platform, a Node.js without OpenSSL's
 * symbols) or one without the function gives `hash: undefined` and the reason.
 */
export function loadNativeHash(path: string = ADDON_PATH): { hash: NativeHash | undefined; transcodeIngest?: TranscodeIngest; sealLink?: SealLink; reason?: string } {
  if (process.env['HWL_NATIVE_HASH'] === '0') return { hash: undefined, reason: 'HWL_NATIVE_HASH=0' };
  if (!existsSync(path)) return { hash: undefined, reason: `not built (${path})` };
  let mod: unknown;
  try {
    mod = createRequire(import.meta.url)(path);
  } catch (e) {
    return { hash: undefined, reason: `does not load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
  }
  // Narrow at the boundary: a stale or foreign file is not trusted to have the function.
  if (typeof mod !== 'object' || mod === null || typeof (mod as { prefixedSha256Into?: unknown }).prefixedSha256Into !== 'function') {
    return { hash: undefined, reason: 'has no prefixedSha256Into' };
  }
  const { transcodeIngest, transcodeIngestVersion, sealLink } = mod as { transcodeIngest?: unknown; transcodeIngestVersion?: unknown; sealLink?: unknown };
  // A transcoder of another contract (a stale build) is not used: the portable path takes its place.
  const transcoderOk = typeof transcodeIngest === 'function' && transcodeIngestVersion === TRANSCODE_INGEST_VERSION;
  return {
    hash: mod as NativeHash,
    ...(transcoderOk ? { transcodeIngest: transcodeIngest as TranscodeIngest } : {}),
    ...(typeof sealLink === 'function' ? { sealLink: sealLink as SealLink } : {}),
  };
}

const loaded = loadNativeHash();

/** The addon, or undefined (use node:crypto). */
export const nativeHash: NativeHash | undefined = loaded.hash;

/**
 * The addon's ingest transcoder, or undefined: not built, HWL_NATIVE_HASH=0,
 * or HWL_NATIVE_INGEST=0 (the sequencer then uses its portable fast path,
 * which gives the same bytes; the switch is for comparisons and tests).
 */
export const nativeTranscodeIngest: TranscodeIngest | undefined = process.env['HWL_NATIVE_INGEST'] === '0' ? undefined : loaded.transcodeIngest;

/** The addon's record link and header writer, or undefined (same switches as nativeTranscodeIngest). */
export const nativeSealLink: SealLink | undefined = process.env['HWL_NATIVE_INGEST'] === '0' ? undefined : loaded.sealLink;

/** Why `nativeHash` is undefined, for logs and diagnostics. */
export const nativeHashUnavailable: string | undefined = loaded.reason;
