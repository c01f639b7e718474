/**
 * Typed errors for services and the CLI. `code` is stable; the CLI maps each
 * to a one-line message and a non-zero exit, the API to gRPC/HTTP statuses.
 */
export type HwlErrorCode =
  /** A setting is missing or malformed (names the setting). */
  | 'CONFIG'
  /** NATS cannot be reached. */
  | 'NATS_UNREACHABLE'
  /** Postgres cannot be reached. */
  | 'PG_UNREACHABLE'
  /** Caller input is malformed. */
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  /** An optimistic append lost: another writer extended the chain first. */
  | 'FENCED'
  /** Concurrent modification or inconsistent state. */
  | 'CONFLICT'
  /** A dependency is temporarily unavailable; retry. */
  | 'UNAVAILABLE'
  /** The operation needs something this process is not set up with (e.g. the API without NATS); retrying will not help. */
  | 'FAILED_PRECONDITION'
  /** The chain failed verification. */
  | 'INTEGRITY'
  /** nvidia-smi is missing or produced unusable output. */
  | 'NVIDIA_SMI'
  | 'INTERNAL';

export class HwlError extends Error {
  override readonly name = 'HwlError';
  constructor(
    readonly code: HwlErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isHwlError(e: unknown): e is HwlError {
  return e instanceof HwlError;
}
