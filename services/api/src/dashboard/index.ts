/**
 * The SRE dashboard (docs/operations.md "Dashboard"), served by the API's HTTP server:
 *
 *   GET /dashboard/                  the page (static assets, no CDN)
 *   GET /dashboard/<asset>           its scripts, styles, icon
 *   GET /dashboard/api/chains        chains: projector status, verified head, sealing rate
 *   GET /dashboard/api/fleet         devices by region with VRAM, utilization, temperature, power
 *   GET /dashboard/api/tenants?range=1h|24h|7d[&chain=ID]
 *                                    tokens, compute, cost and completion reasons over time
 *   GET /dashboard/api/flags         reconciliation flags
 *   GET /dashboard/api/recent?chain=ID  recent jobs and requests (to open their audit trail)
 *
 * The page also calls the API itself: /v1/chains/{id}/status (live stream
 * head, lag), /v1/chains/{id}/verify (re-verification of the latest records),
 * /v1/audit/{key} (audit trail with hashes and verification status),
 * /v1/chains/{id}/checkpoints (latest signed checkpoint, signature validity,
 * archive and replication runs) and /v1/fleet/status (the fleet anchor).
 *
 * Access: the JSON endpoints need an OPERATOR key (Authorization: Bearer),
 * like the API's fleet views: they mix every tenant's data. The page itself
 * holds no data. `npm start` prints the URL with the key in the fragment
 * (#key=...), which browsers never send to the server; the page moves it to
 * sessionStorage and removes it from the address bar.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import pg from 'pg';
import { HwlError, type Logger } from '@hwledger/core';
import { bearerKey, KeyStore, type ApiKeyEntry } from '../api-keys.js';
import type { ExtraHandler } from '../http-server.js';
import { chainsOverview, flags, fleet, recent, tenantSeries, RANGES, type Range } from './dashboard-queries.js';
import { CSP, serveAsset } from './static-assets.js';

export { ASSETS_DIR, ASSET_NAMES, CSP } from './static-assets.js';
export { chainsOverview, fleet, tenantSeries, flags, recent, RANGES, type Range } from './dashboard-queries.js';

export interface DashboardOptions {
  /** Postgres of the read models; or pass `pool`. */
  databaseUrl?: string;
  pool?: pg.Pool;
  /** The API's key entries (operator keys may use the dashboard). */
  keys: ApiKeyEntry[] | KeyStore;
  logger?: Logger;
  /** Clock for chain-time windows (tests). */
  now?: () => number;
  /** Devices the fleet view lists at most (default FLEET_LIST_LIMIT, 2,000); its region totals count them all. */
  fleetListLimit?: number;
}

const CHAIN_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n';
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-security-policy': CSP,
    ...(status === 401 ? { 'www-authenticate': 'Bearer realm="hwledger"' } : {}),
  });
  res.end(text);
}

/** The dashboard's handlers for the API's HTTP server (`extraHandlers`). */
export function dashboardHandlers(o: DashboardOptions): ExtraHandler[] {
  const keys = o.keys instanceof KeyStore ? o.keys : new KeyStore(o.keys);
  let pool = o.pool;
  const getPool = (): pg.Pool => {
    if (!pool) {
      if (!o.databaseUrl) throw new HwlError('CONFIG', 'dashboard: no database (databaseUrl or pool)');
      pool = new pg.Pool({ connectionString: o.databaseUrl, max: 3, allowExitOnIdle: true, idleTimeoutMillis: 10_000, statement_timeout: 15_000 });
      pool.on('error', (e) => o.logger?.warn({ err: e }, 'dashboard: idle Postgres connection failed'));
    }
    return pool;
  };
  const now = o.now ?? Date.now;

  const handler: ExtraHandler = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const path = url.pathname;
    if (path !== '/dashboard' && !path.startsWith('/dashboard/')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { code: 'METHOD_NOT_ALLOWED', message: 'the dashboard is read-only: use GET' });
      return true;
    }
    if (path === '/dashboard') {
      res.writeHead(308, { location: '/dashboard/' });
      res.end();
      return true;
    }
    const rest = path.slice('/dashboard/'.length);
    if (!rest.startsWith('api/')) {
      if (serveAsset(rest === '' ? 'index.html' : rest, res, req.method === 'HEAD')) return true;
      sendJson(res, 404, { code: 'NOT_FOUND', message: `no dashboard file ${JSON.stringify(rest)}` });
      return true;
    }
    const caller = keys.authenticate(bearerKey(req.headers.authorization));
    if (!caller) {
      sendJson(res, 401, { code: 'UNAUTHENTICATED', message: 'missing or unknown API key: send "Authorization: Bearer <operator key>"' });
      return true;
    }
    if (caller.role !== 'operator') {
      sendJson(res, 403, { code: 'PERMISSION_DENIED', message: 'the dashboard is available to operator keys only' });
      return true;
    }
    const q = url.searchParams;
    const chain = q.get('chain') ?? '';
    if (chain !== '' && !CHAIN_RE.test(chain)) {
      sendJson(res, 400, { code: 'INVALID_ARGUMENT', message: 'chain must be a chain id' });
      return true;
    }
    try {
      switch (rest) {
        case 'api/chains':
          sendJson(res, 200, { generatedAtMs: now(), chains: await chainsOverview(getPool()) });
          return true;
        case 'api/fleet':
          sendJson(res, 200, { generatedAtMs: now(), ...(await fleet(getPool(), o.fleetListLimit)) });
          return true;
        case 'api/tenants': {
          const range = (q.get('range') ?? '1h') as Range;
          // Own keys only: `in` would also accept "constructor", "toString"…
          if (!Object.hasOwn(RANGES, range)) {
            sendJson(res, 400, { code: 'INVALID_ARGUMENT', message: `range must be one of ${Object.keys(RANGES).join(', ')}` });
            return true;
          }
          sendJson(res, 200, await tenantSeries(getPool(), range, now(), chain || undefined));
          return true;
        }
        case 'api/flags':
          sendJson(res, 200, await flags(getPool()));
          return true;
        case 'api/recent':
          if (chain === '') {
            sendJson(res, 400, { code: 'INVALID_ARGUMENT', message: 'chain is required' });
            return true;
          }
          sendJson(res, 200, await recent(getPool(), chain));
          return true;
        default:
          sendJson(res, 404, { code: 'NOT_FOUND', message: `no dashboard endpoint ${JSON.stringify(rest)}` });
          return true;
      }
    } catch (e) {
      o.logger?.error({ err: e, path }, 'dashboard query failed');
      sendJson(res, 503, { code: 'UNAVAILABLE', message: 'the read models cannot be queried right now' });
      return true;
    }
  };
  return [handler];
}
