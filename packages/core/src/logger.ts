/** pino loggers. Logs go to stderr so that CLI stdout stays machine-readable. */
import { pino, destination, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  const level = process.env['HWL_LOG_LEVEL'] ?? process.env['LOG_LEVEL'] ?? 'info';
  return pino({ name, level, base: { svc: name, ...bindings } }, destination({ fd: 2, sync: false }));
}

/** A logger that discards everything (tests, libraries used without a service). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
