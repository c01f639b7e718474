/**
 * Typed errors for the chain library. Every error carries a stable `code`
 * that callers (CLI, sequencer, API) switch on; messages are for people.
 */
export type ChainErrorCode =
  /** Input ended before a field was complete. */
  | 'TRUNCATED'
  /** Bytes remain after the last field of a record. */
  | 'TRAILING_BYTES'
  /** A `str` field (or a JS string) is not well-formed UTF-8. */
  | 'INVALID_UTF8'
  /** `format_version` is not one this library understands. */
  | 'UNSUPPORTED_VERSION'
  /** The `event_data` variant tag differs from the record's `kind`. */
  | 'TAG_MISMATCH'
  /** A kind tag or kind name that version 1 does not define. */
  | 'UNKNOWN_KIND'
  /** A field has the wrong type, is out of range, or is missing. */
  | 'INVALID_FIELD'
  /** Hex text is malformed (odd length, non-hex or uppercase digits). */
  | 'INVALID_HEX'
  /** A JSON document or export line is malformed. */
  | 'INVALID_JSON'
  /** A checkpoint or signed note is malformed. */
  | 'INVALID_CHECKPOINT'
  /** A signature or key is malformed, unknown or does not verify. */
  | 'INVALID_SIGNATURE'
  /** A Merkle proof or tree argument is malformed or does not verify. */
  | 'INVALID_PROOF';

export class ChainError extends Error {
  override readonly name = 'ChainError';
  readonly code: ChainErrorCode;
  /** Byte offset (decoding) or field path (validation) where the problem was found. */
  readonly at: string | undefined;

  constructor(code: ChainErrorCode, message: string, at?: string | number) {
    super(at === undefined ? message : `${message} (at ${String(at)})`);
    this.code = code;
    this.at = at === undefined ? undefined : String(at);
  }
}

export function isChainError(e: unknown): e is ChainError {
  return e instanceof ChainError;
}
