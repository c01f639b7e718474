/**
 * Which Postgres failures are worth retrying. A restarted server, a killed
 * backend (pg_terminate_backend: 57P01), a refused connection, a
 * serialization failure: back off and resume from the checkpoint.
 */
const TRANSIENT_SQLSTATE = /^(08|57P|40001|40P01|53)/;
const TRANSIENT_NODE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

export function isTransientPgError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_NODE.has(code))) return true;
  return /Connection terminated|connection.*(closed|ended|terminated)|Client has encountered a connection error|timeout exceeded when trying to connect|Client was closed/i.test(
    e.message,
  );
}

/** Numeric/bigint columns arrive as decimal strings; null stays undefined. */
export function big(v: string | number | bigint | null | undefined): bigint {
  if (v === null || v === undefined) return 0n;
  return typeof v === 'bigint' ? v : BigInt(v);
}

export function bigOrNull(v: string | number | bigint | null | undefined): bigint | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'bigint' ? v : BigInt(v);
}
