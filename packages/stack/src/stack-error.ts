/**
 * A bad setting or a failed start of the local stack: one line naming the
 * setting and what to do (never a stack trace, issue 5). `setting` is the
 * environment variable (or thing) at fault.
 */
import { redactNatsUrl } from '@hwledger/core';

export type StackErrorCode =
  /** A setting is malformed or refers to something unknown (exit 2). */
  | 'CONFIG'
  /** NATS or Postgres at a given URL cannot be used (exit 2). */
  | 'UNREACHABLE'
  /** A port the stack needs is taken (exit 2). */
  | 'PORT_IN_USE'
  /** A file named by a setting is missing or unreadable (exit 2). */
  | 'MISSING_FILE'
  /** A program the stack needs is not installed (exit 2). */
  | 'MISSING_PROGRAM'
  /** Something started but failed (exit 1). */
  | 'START_FAILED';

export class StackError extends Error {
  override readonly name = 'StackError';
  constructor(
    readonly code: StackErrorCode,
    readonly setting: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get exitCode(): number {
    return this.code === 'START_FAILED' ? 1 : 2;
  }

  /** The one line printed to stderr. */
  oneLine(): string {
    return `${this.setting}: ${this.message}`.replace(/\s*\n\s*/g, ' ');
  }
}

export function isStackError(e: unknown): e is StackError {
  return e instanceof StackError;
}

/**
 * A URL (or a comma-separated server list, any scheme) with every password
 * replaced by *** (for messages and logs): core's redaction, which also
 * handles passwords holding `/` or `@`.
 */
export function redactUrl(url: string): string {
  return redactNatsUrl(url);
}
