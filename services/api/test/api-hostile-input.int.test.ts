/**
 * Hostile and malformed input at both transports: nothing a caller sends is
 * answered with a 500 / INTERNAL. Raw HTTP (malformed paths, escapes, query
 * strings, methods, keys), generated HTTP requests (fast-check) on every
 * route, generated gRPC request messages on every method, and bytes that do
 * not decode as protobuf at all. Also /metrics, /healthz, /readyz and the
 * dashboard hook (extraHandlers) of the HTTP server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { credentials, makeGenericClientConstructor, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { silentLogger } from '@hwledger/core';
import { query as q } from '@hwledger/proto';
import { ApiMetrics, createApiClient, KeyStore, startHttpServer, type RunningHttpServer } from '@hwledger/api';
import { startFixture, type Fixture } from './helpers/fixture.js';

let fx: Fixture;
let base: string;
let auth: Record<string, string>;

beforeAll(async () => {
  fx = await startFixture();
  base = fx.api!.http!.url;
  auth = { authorization: `Bearer ${fx.keys.operator.key}` };
});

afterAll(async () => {
  await fx?.close();
});

async function get(path: string, headers: Record<string, string> = auth, method = 'GET'): Promise<{ status: number; body: Record<string, unknown> | undefined; headers: Headers }> {
  const res = await fetch(base + path, { method, headers });
  const text = await res.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  return { status: res.status, body, headers: res.headers };
}

describe('HTTP', () => {
  it('answers malformed requests with 4xx and a JSON {code, message}', async () => {
    const cases: [string, number, string][] = [
      ['/v1/audit/%E0%A4%A', 400, 'INVALID_ARGUMENT'],
      ['/v1/audit/%', 400, 'INVALID_ARGUMENT'],
      ['/v1/audit/job%00a', 400, 'INVALID_ARGUMENT'],
      ['/v1/audit/', 400, 'INVALID_ARGUMENT'],
      ['/v1/devices//cost', 400, 'INVALID_ARGUMENT'],
      ['/v1/chains//status', 400, 'INVALID_ARGUMENT'],
      ['/v1/chains/bad%20chain/status', 400, 'INVALID_ARGUMENT'],
      ['/v1/tenants/47/summary?from_ms=abc', 400, 'INVALID_ARGUMENT'],
      ['/v1/tenants/47/summary?from_ms=-1', 400, 'INVALID_ARGUMENT'],
      ['/v1/tenants/47/summary?from_ms=1e9', 400, 'INVALID_ARGUMENT'],
      ['/v1/tenants/47/summary?from_ms=99999999999999999999999', 400, 'INVALID_ARGUMENT'],
      ['/v1/tenants/47/summary?from_ms=10&to_ms=5', 400, 'INVALID_ARGUMENT'],
      ['/v1/tenants/47/summary?form_ms=10', 400, 'INVALID_ARGUMENT'],
      ['/v1/tenants/47/summary?from_ms=1&from_ms=2', 400, 'INVALID_ARGUMENT'],
      ['/v1/audit/job-a?page_size=1001', 400, 'INVALID_ARGUMENT'],
      ['/v1/audit/job-a?page_size=-1', 400, 'INVALID_ARGUMENT'],
      ['/v1/audit/job-a?page_size=1.5', 400, 'INVALID_ARGUMENT'],
      ['/v1/audit/job-a?page_token=%7B%7D', 400, 'INVALID_ARGUMENT'],
      ['/v1/audit/job-a?page_token=' + 'A'.repeat(5000), 400, 'INVALID_ARGUMENT'],
      ['/v1/chains/api-main/verify?from=5&to=1', 400, 'INVALID_ARGUMENT'],
      ['/v1/chains/api-main/verify?to=99999', 400, 'INVALID_ARGUMENT'],
      ['/v1/reconciliation/flags?flag=%27%3B%20DROP%20TABLE%20records', 400, 'INVALID_ARGUMENT'],
      ['/v1/nope', 404, 'NOT_FOUND'],
      ['/v1/jobs/job-none/reconciliation', 404, 'NOT_FOUND'],
    ];
    for (const [path, status, code] of cases) {
      const r = await get(path);
      expect([path, r.status, r.body?.['code']]).toEqual([path, status, code]);
      expect(typeof r.body?.['message']).toBe('string');
    }
  });

  it('needs a bearer key on /v1 (401 with WWW-Authenticate) and GET only (405)', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer' }, { authorization: 'Basic Zm9vOmJhcg==' }, { authorization: `Bearer ${'x'.repeat(10_000)}` }, { authorization: 'Bearer hwl_wrong' }]) {
      const r = await get('/v1/tenants', headers);
      expect(r.status).toBe(401);
      expect(r.body?.['code']).toBe('UNAUTHENTICATED');
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    const post = await get('/v1/tenants', auth, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    expect((await get('/v1/tenants', { authorization: `bearer ${fx.keys.t47.key}` })).status).toBe(200);
  });

  it('serves every route for generated ids, numbers and tokens without a 5xx', async () => {
    const seg = fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom('job-a', 'gpu-3', '47', '_', 'api-main', '..', '%', '%2F', ' '));
    const num = fc.oneof(fc.constantFrom('', '0', '1', '-1', '1e3', '18446744073709551616', '9223372036854775807', 'NaN'), fc.string({ maxLength: 25 }));
    const route = fc.constantFrom(
      (s: string) => `/v1/audit/${s}`,
      (s: string) => `/v1/tenants/${s}/summary`,
      (s: string) => `/v1/devices/${s}/cost`,
      (s: string) => `/v1/devices/${s}/dispatches`,
      (s: string) => `/v1/jobs/${s}/reconciliation`,
      (s: string) => `/v1/chains/${s}/status`,
      (s: string) => `/v1/chains/${s}/verify`,
      () => '/v1/reconciliation/flags',
      () => '/v1/tenants',
      () => '/v1/cost',
    );
    const param = fc.constantFrom('from_ms', 'to_ms', 'page_size', 'page_token', 'chain_id', 'flag', 'from', 'to');
    const who = fc.constantFrom(fx.keys.operator.key, fx.keys.t47.key);
    await fc.assert(
      fc.asyncProperty(route, seg, fc.array(fc.tuple(param, num), { maxLength: 3 }), who, async (r, s, params, key) => {
        const qs = new URLSearchParams(params).toString();
        const path = r(encodeURIComponent(s)) + (qs ? `?${qs}` : '');
        const res = await get(path, { authorization: `Bearer ${key}` });
        expect([path, res.status < 500, typeof res.body?.['code'] === 'string' || res.status === 200]).toEqual([path, true, true]);
      }),
      { numRuns: 300 },
    );
  });

  it('counts requests by route pattern and code on /metrics; answers /healthz and /readyz without a key', async () => {
    await get('/v1/audit/job-a');
    await get('/v1/audit/job-a?page_size=5000');
    const grpc = createApiClient(`grpc://${fx.api!.grpc!.address}`, fx.keys.operator.key);
    await grpc.getChainStatus({});
    grpc.close();
    const m = await fetch(`${base}/metrics`);
    expect(m.status).toBe(200);
    const text = await m.text();
    expect(text).toMatch(/hwl_api_requests_total\{route="\/v1\/audit\/\{key\}",code="200"\} [1-9]/);
    expect(text).toMatch(/hwl_api_requests_total\{route="\/v1\/audit\/\{key\}",code="400"\} [1-9]/);
    expect(text).not.toMatch(/job-a/);
    expect(text).toMatch(/hwl_api_requests_total\{route="\/hwledger.v1.LedgerQuery\/GetChainStatus",code="OK"\} [1-9]/);
    expect((await get('/healthz', {})).body).toEqual({ status: 'ok' });
    const ready = await get('/readyz', {});
    expect(ready.status).toBe(200);
    expect(ready.body?.['ready']).toBe(true);
  });

  it('tries extra handlers (the dashboard) after the API routes and before 404', async () => {
    const seen: string[] = [];
    let server: RunningHttpServer | undefined;
    try {
      server = await startHttpServer({
        api: fx.api!.api,
        keys: new KeyStore([fx.keys.operator.entry]),
        metrics: new ApiMetrics(new Registry()),
        logger: silentLogger(),
        port: 0,
        extraHandlers: [
          async (_req, res, url) => {
            seen.push(url.pathname);
            if (url.pathname !== '/dashboard') return false;
            res.writeHead(200, { 'content-type': 'text/html' });
            res.end('<h1>dash</h1>');
            return true;
          },
        ],
      });
      const dash = await fetch(`${server.url}/dashboard`);
      expect([dash.status, await dash.text()]).toEqual([200, '<h1>dash</h1>']);
      expect((await fetch(`${server.url}/elsewhere`)).status).toBe(404);
      const api = await fetch(`${server.url}/v1/tenants`, { headers: auth });
      expect(api.status).toBe(200);
      expect(seen).toEqual(['/dashboard', '/elsewhere']);
    } finally {
      await server?.close();
    }
  });
});

describe('gRPC', () => {
  const md = (): Metadata => {
    const m = new Metadata();
    m.set('authorization', `Bearer ${fx.keys.operator.key}`);
    return m;
  };

  it('answers bytes that do not decode as protobuf with INVALID_ARGUMENT, not INTERNAL', async () => {
    // A client that sends raw bytes to the real method paths.
    const Raw = makeGenericClientConstructor(
      {
        getAuditTrail: { ...q.LedgerQueryService.getAuditTrail, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b },
        getTenantSummary: { ...q.LedgerQueryService.getTenantSummary, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b },
      },
      'LedgerQuery',
    );
    const client = new Raw(fx.api!.grpc!.address, credentials.createInsecure());
    try {
      const garbage = [Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from([0x0a, 0x80]), Buffer.from([0x12, 0x05, 0x61])];
      for (const method of ['getAuditTrail', 'getTenantSummary'] as const) {
        for (const g of garbage) {
          const err = await new Promise<ServiceError | null>((resolve) => {
            (client as unknown as Record<string, (req: Buffer, m: Metadata, cb: (e: ServiceError | null) => void) => void>)[method]!(g, md(), (e) => resolve(e));
          });
          expect([method, g.toString('hex'), err?.code]).toEqual([method, g.toString('hex'), GrpcStatus.INVALID_ARGUMENT]);
        }
      }
    } finally {
      client.close();
    }
  });

  it('never answers INTERNAL or UNKNOWN to generated requests on any method', async () => {
    const client = createApiClient(`grpc://${fx.api!.grpc!.address}`, fx.keys.operator.key);
    const tenantClient = createApiClient(`grpc://${fx.api!.grpc!.address}`, fx.keys.t47.key);
    try {
      const str = fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom('', 'job-a', 'gpu-3', '47', '_', 'api-main', 'api-broken', 'orphan_failure'));
      const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
      const u32 = fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.constant(0xffffffff));
      const call = fc.oneof(
        fc.record({ key: str, chainId: str, pageSize: u32, pageToken: str }).map((r) => (c: typeof client) => c.getAuditTrail(r)),
        fc.record({ chainId: str, pageSize: u32, pageToken: str }).map((r) => (c: typeof client) => c.listTenants(r)),
        fc.record({ tenant: str, fromMs: u64, toMs: u64, chainId: str }).map((r) => (c: typeof client) => c.getTenantSummary(r)),
        fc.record({ deviceId: str, fromMs: u64, toMs: u64, chainId: str }).map((r) => (c: typeof client) => c.getCostSummary(r)),
        fc.record({ deviceId: str, chainId: str, pageSize: u32, pageToken: str }).map((r) => (c: typeof client) => c.getDispatchHistory(r)),
        fc.record({ jobId: str, chainId: str }).map((r) => (c: typeof client) => c.getReconciliation(r)),
        fc.record({ flag: str, chainId: str, pageSize: u32, pageToken: str }).map((r) => (c: typeof client) => c.listFlaggedJobs(r)),
        fc.record({ chainId: str }).map((r) => (c: typeof client) => c.getFleetReconciliation(r)),
        fc.record({ chainId: str }).map((r) => (c: typeof client) => c.getChainStatus(r)),
        fc.record({ chainId: str, from: u64, to: u64 }).map((r) => (c: typeof client) => c.verifyRange(r)),
      );
      await fc.assert(
        fc.asyncProperty(call, fc.boolean(), async (f, asTenant) => {
          try {
            await f(asTenant ? tenantClient : client);
          } catch (e) {
            const code = (e as { code?: string }).code;
            expect(['INVALID_ARGUMENT', 'NOT_FOUND', 'PERMISSION_DENIED']).toContain(code);
          }
        }),
        { numRuns: 400 },
      );
    } finally {
      client.close();
      tenantClient.close();
    }
  });
});
