/**
 * One error model for both transports: a stable code and a message safe to
 * show the caller. HwlError codes pass through; Postgres data exceptions
 * (SQLSTATE class 22: a value the database rejects) are the caller's bad
 * input, never a 500; connection failures are UNAVAILABLE; an operation the
 * server is not set up for (proofs without NATS) is FAILED_PRECONDITION; a
 * ledger that fails verification (a proof whose chain does not reproduce the
 * signed root) is INTEGRITY with its message, a fact about the data the
 * caller should see; anything else is INTERNAL with a generic message
 * (details go to the log, not the caller).
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { isHwlError } from '@hwledger/core';

export type ApiErrorCode = 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'PERMISSION_DENIED' | 'UNAUTHENTICATED' | 'UNAVAILABLE' | 'FAILED_PRECONDITION' | 'INTEGRITY' | 'INTERNAL';

export interface ApiError {
  code: ApiErrorCode;
  message: string;
  /** The original error, for the log only (INTERNAL, and database data exceptions). */
  cause?: unknown;
}

const TRANSIENT_NODE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

export function toApiError(e: unknown): ApiError {
  if (isHwlError(e)) {
    switch (e.code) {
      case 'INVALID_ARGUMENT':
      case 'NOT_FOUND':
      case 'PERMISSION_DENIED':
      case 'UNAUTHENTICATED':
      case 'UNAVAILABLE':
      case 'FAILED_PRECONDITION':
        return { code: e.code, message: e.message };
      case 'INTEGRITY':
        return { code: 'INTEGRITY', message: e.message, cause: e };
      case 'PG_UNREACHABLE':
      case 'NATS_UNREACHABLE':
        return { code: 'UNAVAILABLE', message: e.message };
      default:
        return { code: 'INTERNAL', message: 'internal error', cause: e };
    }
  }
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  if (typeof code === 'string') {
    // Logged (cause) as a warning: it means a validator let something through.
    if (code.startsWith('22')) return { code: 'INVALID_ARGUMENT', message: 'a request value is out of range or malformed', cause: e };
    if (/^(08|57P|53)/.test(code) || TRANSIENT_NODE.has(code)) return { code: 'UNAVAILABLE', message: 'database unavailable, retry' };
    // query_canceled: the pool's statement_timeout ran out (the database is busy), not a fault of the request.
    if (code === '57014') return { code: 'UNAVAILABLE', message: 'database busy: the query ran past its time limit, retry' };
  }
  if (e instanceof Error && /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(e.message)) {
    return { code: 'UNAVAILABLE', message: 'database unavailable, retry' };
  }
  return { code: 'INTERNAL', message: 'internal error', cause: e };
}

export const HTTP_STATUS: Record<ApiErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  // google.rpc.Code documents FAILED_PRECONDITION as HTTP 400; the body's code tells it from bad input.
  FAILED_PRECONDITION: 400,
  INTEGRITY: 500,
  INTERNAL: 500,
  UNAVAILABLE: 503,
};

export const GRPC_STATUS: Record<ApiErrorCode, GrpcStatus> = {
  INVALID_ARGUMENT: GrpcStatus.INVALID_ARGUMENT,
  UNAUTHENTICATED: GrpcStatus.UNAUTHENTICATED,
  PERMISSION_DENIED: GrpcStatus.PERMISSION_DENIED,
  NOT_FOUND: GrpcStatus.NOT_FOUND,
  FAILED_PRECONDITION: GrpcStatus.FAILED_PRECONDITION,
  INTEGRITY: GrpcStatus.DATA_LOSS,
  INTERNAL: GrpcStatus.INTERNAL,
  UNAVAILABLE: GrpcStatus.UNAVAILABLE,
};
