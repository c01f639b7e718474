/**
 * The HTTP/JSON transport (docs/api.md): GET routes mirroring the gRPC
 * operations (http-routes.ts), `Authorization: Bearer <key>`, JSON answers
 * (json.ts) and errors as {code, message} with 400/401/403/404/503/500.
 * Also /healthz, /readyz and /metrics (no key), and `extraHandlers` (the ops
 * dashboard) tried after the API routes and before 404.
 *
 * Threats: malformed paths, percent-escapes or query strings turning into
 * 500s (every parse failure is a 400); keys leaking into logs (the
 * Authorization header is never logged, only the key's id); label explosion
 * in metrics (routes are labelled by pattern).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HwlError, type Logger } from '@hwledger/core';
import { HTTP_STATUS, toApiError } from './api-error.js';
import { bearerKey, type KeyStore } from './api-keys.js';
import { matchRoute, Query } from './http-routes.js';
import { toJson } from './json.js';
import type { LedgerQuery } from './ledger-query.js';
import type { ApiMetrics } from './metrics.js';

/** A handler of another component (the dashboard): true when it answered the request. */
export type ExtraHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export interface HttpServerOptions {
  api: LedgerQuery;
  keys: KeyStore;
  metrics: ApiMetrics;
  logger: Logger;
  host?: string;
  /** 0 = any free port. */
  port: number;
  /** Tried in order for requests no API route matches, before answering 404. */
  extraHandlers?: ExtraHandler[];
}

export interface RunningHttpServer {
  port: number;
  url: string;
  server: Server;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(text);
}

/** Path segments, percent-decoded; undefined when an escape is malformed. */
function segmentsOf(pathname: string): string[] | undefined {
  const raw = pathname.split('/').slice(1);
  try {
    return raw.map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

/** True when the request target's path, as sent, has a '.' or '..' segment (escaped or not). */
function hasDotSegment(target: string): boolean {
  const path = target.split(/[?#]/, 1)[0] ?? '';
  return path.split(/[/\\]/).some((s) => /^(\.|%2e){1,2}$/i.test(s));
}

export async function startHttpServer(o: HttpServerOptions): Promise<RunningHttpServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let label = 'other';
    const answer = (status: number, body: unknown, headers?: Record<string, string>): void => {
      o.metrics.count(label, status);
      send(res, status, body, headers);
    };
    const fail = (e: unknown): void => {
      const err = toApiError(e);
      if (err.cause !== undefined) o.logger[err.code === 'INTERNAL' ? 'error' : 'warn']({ err: err.cause, route: label }, 'request failed');
      const headers: Record<string, string> = err.code === 'UNAUTHENTICATED' ? { 'www-authenticate': 'Bearer realm="hwledger"' } : {};
      answer(HTTP_STATUS[err.code], { code: err.code, message: err.message }, headers);
    };
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://localhost');
      } catch {
        throw new HwlError('INVALID_ARGUMENT', 'malformed request URL');
      }
      const segments = segmentsOf(url.pathname);
      if (segments === undefined) throw new HwlError('INVALID_ARGUMENT', 'malformed percent-escape in the path');
      // URL parsing removed dot segments ('.', '..', escaped or not): /v1/devices/%2E%2E/cost must not become /v1/cost.
      if (hasDotSegment(req.url ?? '/')) throw new HwlError('INVALID_ARGUMENT', "a path segment is '.' or '..': ids that are dot segments cannot be sent in an HTTP path (use gRPC)");
      const path = url.pathname;

      if (path === '/healthz' || path === '/readyz' || path === '/metrics') {
        label = path;
        if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, { code: 'METHOD_NOT_ALLOWED', message: 'use GET' }, { allow: 'GET' });
        if (path === '/healthz') return answer(200, toJson(o.api.health()));
        if (path === '/readyz') {
          const r = await o.api.ready();
          return answer(r.ready ? 200 : 503, toJson(r));
        }
        const text = await o.metrics.registry.metrics();
        o.metrics.count(label, 200);
        res.writeHead(200, { 'content-type': o.metrics.registry.contentType });
        res.end(text);
        return;
      }

      const m = matchRoute(segments);
      if (m) {
        label = m.route.pattern;
        if (req.method !== 'GET') return answer(405, { code: 'METHOD_NOT_ALLOWED', message: 'use GET' }, { allow: 'GET' });
        const caller = o.keys.authenticate(bearerKey(req.headers.authorization));
        if (!caller) throw new HwlError('UNAUTHENTICATED', 'missing or unknown API key: send "Authorization: Bearer <key>"');
        const query = new Query(url.searchParams);
        query.check(m.route.params);
        const body = await m.route.handle(o.api, caller, m.path, query);
        return answer(200, toJson(body));
      }

      for (const h of o.extraHandlers ?? []) {
        if (await h(req, res, url)) {
          o.metrics.count('extra', res.statusCode);
          return;
        }
      }
      answer(404, { code: 'NOT_FOUND', message: `no route ${req.method ?? ''} ${path}` });
    } catch (e) {
      if (res.headersSent) {
        o.logger.error({ err: e, route: label }, 'request failed after the answer started');
        res.destroy();
        return;
      }
      fail(e);
    }
  };

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
