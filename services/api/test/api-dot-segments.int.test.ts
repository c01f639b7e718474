/**
 * Ids "." and ".." are valid on the chain (and over gRPC), but in an HTTP
 * path they are dot segments that URL parsers remove: `/v1/devices/../cost`
 * becomes `/v1/cost`, the FLEET cost. Neither the HTTP client nor the server
 * may answer another operation than the one asked for.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { HwlError, silentLogger } from '@hwledger/core';
import { ApiMetrics, createApiClient, generateKey, KeyStore, startHttpServer, type LedgerQuery, type RunningHttpServer } from '@hwledger/api';

/** Paths a stub HTTP API was asked for. */
const seen: string[] = [];
let stub: Server;
let stubUrl: string;

/** A real HTTP server over a LedgerQuery stub that records which operation ran. */
const ran: string[] = [];
const fakeApi = new Proxy(
  {},
  {
    get: (_t, prop) => (_caller: unknown, req: unknown) => {
      ran.push(`${String(prop)} ${JSON.stringify(req, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
      return Promise.resolve({});
    },
  },
) as unknown as LedgerQuery;
const op = generateKey({ role: 'operator', id: 'ops' });
let server: RunningHttpServer;

beforeAll(async () => {
  stub = createServer((req, res) => {
    seen.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
  stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  server = await startHttpServer({ api: fakeApi, keys: new KeyStore([op.entry]), metrics: new ApiMetrics(new Registry()), logger: silentLogger(), port: 0 });
});

afterAll(async () => {
  await new Promise<void>((resolve) => stub.close(() => resolve()));
  await server?.close();
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return e instanceof HwlError ? e.code : String(e);
  }
}

/** A raw GET, path sent as is (no client-side dot-segment removal). */
function rawGet(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(server.url);
    const r = request({ host: u.hostname, port: u.port, path, method: 'GET', headers: { authorization: `Bearer ${op.key}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    r.on('error', reject);
    r.end();
  });
}

describe('ids that are dot segments', () => {
  it('the HTTP client never sends a request for another route', async () => {
    const c = createApiClient(stubUrl, op.key);
    for (const id of ['.', '..']) {
      seen.length = 0;
      const outcomes = [
        await code(c.getCostSummary({ deviceId: id })),
        await code(c.getDispatchHistory({ deviceId: id })),
        await code(c.getAuditTrail({ key: id })),
        await code(c.getReconciliation({ jobId: id })),
      ];
      expect(outcomes).toEqual(['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT']);
      expect(seen).toEqual([]);
    }
    c.close();
  });

  it('the HTTP server answers 400 to a path with a dot segment instead of running the operation of the normalized path', async () => {
    ran.length = 0;
    for (const p of ['/v1/devices/%2E%2E/cost', '/v1/devices/../cost', '/v1/devices/.%2e/cost', '/v1/audit/x/..', '/v1/tenants/47/%2e/summary']) {
      expect(await rawGet(p), p).toBe(400);
    }
    expect(ran).toEqual([]);
    // An ordinary id still reaches its operation.
    expect(await rawGet('/v1/devices/gpu-1/cost')).toBe(200);
    expect(ran).toHaveLength(1);
    expect(ran[0]).toMatch(/^getCostSummary .*"deviceId":"gpu-1"/);
  });
});
