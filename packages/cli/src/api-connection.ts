/**
 * Options shared by the commands that talk to the query API (`tenants`,
 * `trail`, `cost`, `reconcile`): --api URL (env HWL_API_URL; http(s):// for
 * HTTP/JSON, grpc:// or host:port for gRPC) and --key KEY (env HWL_API_KEY;
 * prefer the environment: arguments show in `ps`).
 */
import type { Command } from 'commander';
import { HwlError, parseUtcIsoTime } from '@hwledger/core';
import { createApiClient, toJson, type ApiClient } from '@hwledger/api';
import { ExitError } from './exit-error.js';

export interface ApiConnectionOptions {
  api?: string;
  key?: string;
  json?: boolean;
}

export function withApiOptions(cmd: Command): Command {
  return cmd
    .option('--api <url>', 'query API: http://host:port (HTTP/JSON) or grpc://host:port (env HWL_API_URL)')
    .option('--key <key>', 'API key (env HWL_API_KEY; prefer the environment)')
    .option('--json', 'print JSON (u64 as decimal strings) instead of text');
}

export function apiClient(o: ApiConnectionOptions, env: NodeJS.ProcessEnv = process.env): ApiClient {
  const url = o.api ?? env['HWL_API_URL'];
  if (url === undefined || url === '') throw new HwlError('CONFIG', 'no API: pass --api URL or set HWL_API_URL (e.g. http://127.0.0.1:8080)');
  const key = o.key ?? env['HWL_API_KEY'];
  return createApiClient(url, key === '' ? undefined : key);
}

/** Runs `fn` with a client, closing it after; API errors become one-line messages (exit 1, 2 when unreachable or unauthenticated). */
export async function withApi<T>(o: ApiConnectionOptions, fn: (c: ApiClient) => Promise<T>): Promise<T> {
  const client = apiClient(o);
  try {
    return await fn(client);
  } catch (e) {
    if (e instanceof HwlError && (e.code === 'UNAVAILABLE' || e.code === 'UNAUTHENTICATED')) throw new ExitError(2, `${e.code}: ${e.message}`);
    throw e;
  } finally {
    client.close();
  }
}

/**
 * --from/--to: unix milliseconds, or an ISO 8601 time with its UTC offset
 * (`2026-11-01T00:00:00Z`, `…+02:00`) or a date alone (UTC midnight). A time
 * without an offset is refused: read in this machine's time zone, the same
 * command would sum a different window on a laptop than on a server.
 */
export function timeOption(name: string): (v: string) => bigint {
  return (v) => {
    if (/^[0-9]{1,19}$/.test(v)) return BigInt(v);
    const t = parseUtcIsoTime(v);
    if (t === undefined || t < 0n) {
      throw new ExitError(2, `${name} must be unix milliseconds, an ISO 8601 time with its UTC offset (2026-11-01T00:00:00Z) or a date (UTC), got ${JSON.stringify(v)}`);
    }
    return t;
  };
}

export function intOption(name: string, min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) throw new ExitError(2, `${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
    return n;
  };
}

/** Integer micro-USD as dollars with six decimals, exactly. */
export function usd(micro: bigint): string {
  const neg = micro < 0n;
  const m = neg ? -micro : micro;
  return `${neg ? '-' : ''}$${m / 1_000_000n}.${(m % 1_000_000n).toString().padStart(6, '0')}`;
}

export function isoTime(ms: bigint): string {
  if (ms === 0n) return '-';
  const d = new Date(Number(ms));
  return Number.isNaN(d.getTime()) ? ms.toString() : d.toISOString();
}

/** The HTTP API's JSON form (u64 as decimal strings), whichever transport answered. */
export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(toJson(v), null, 2) + '\n');
}

/** Left-aligned text table. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
