/**
 * GET /metrics (Prometheus text), GET /healthz (200 while projecting, 503
 * when the chain is broken or the database unreachable, JSON body with the
 * status), GET /readyz (200 once caught up with the stream head).
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { toJsonSafe } from './json-safe.js';

export interface HealthSource {
  health(): { healthy: boolean; ready: boolean } & Record<string, unknown>;
}

export function startHealthServer(registry: Registry, port: number, source: HealthSource, host = '0.0.0.0'): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        })
        .catch((e: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(e));
        });
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const h = source.health();
      const ok = path === '/healthz' ? h.healthy : h.ready;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(toJsonSafe(h))}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
