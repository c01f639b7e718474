/**
 * Sums and rated costs above 2^64 - 1 (read models keep them exact as
 * numeric: a completion with duration_ms near u64 max, as a producer's
 * unsigned clock underflow writes it, rates above 2^64 µUSD on its own; two
 * reported costs near u64 max sum above it). The HTTP answer carries them as
 * exact decimal strings; the gRPC answer must not turn into INTERNAL ("error
 * serializing response") for the same request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import type { ChainEvent } from '@hwledger/chain';
import { silentLogger } from '@hwledger/core';
import { HwlError } from '@hwledger/core';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { migrate, Projector, setPriceBook } from '@hwledger/projector';
import { createApiClient, generateKey, startApi, type ApiClient, type RunningApi } from '@hwledger/api';
import { publishChain } from './helpers/publish-chain.js';

const CHAIN = 'api-u64';
const T0 = 1_794_960_000_000n;
const U64_MAX = (1n << 64n) - 1n;

const nats = useNatsServer();
const fx = useTestDatabase({
  setup: async (pool) => {
    await migrate(pool);
    await setPriceBook(pool, { effectiveFromMs: 0n, note: 'test', gpuHour: new Map([['*', 3_600_000n], ['H100', 7_200_000n]]), tokenPerMtok: new Map([['*', 1_000_000n]]) });
  },
});

const keys = { operator: generateKey({ role: 'operator', id: 'ops' }), t47: generateKey({ role: 'tenant', tenant: '47', id: 't47' }) };
let api: RunningApi;
const clients: Record<'http' | 'grpc', ApiClient> = {} as Record<'http' | 'grpc', ApiClient>;
const tenantClients: Record<'http' | 'grpc', ApiClient> = {} as Record<'http' | 'grpc', ApiClient>;

let n = 0;
function env(tenant: string, instanceId: string): { source: string; eventId: string; observedAtMs: bigint; tenant: string; instanceId: string } {
  n++;
  return { source: 'test/node-1', eventId: `e-${n}`, observedAtMs: T0 + BigInt(n), tenant, instanceId };
}

beforeAll(async () => {
  const events: ChainEvent[] = [
    { ...env('', 'gpu-1'), kind: 'device_registered', data: { device_id: 'gpu-1', hostname: 'h1', device_type: 'H100', vram_total_mib: 81_920n } },
    { ...env('47', 'job-x'), kind: 'job_dispatched', data: { job_id: 'job-x', device_id: 'gpu-1', model_id: 'm', vram_requested_mib: 1n, predicted_cost_micro_usd: 1n } },
    { ...env('47', 'job-x'), kind: 'job_completed', data: { job_id: 'job-x', tokens_generated: 1, duration_ms: U64_MAX, actual_vram_mib: 1n, cost_micro_usd: U64_MAX } },
    { ...env('47', 'job-y'), kind: 'job_dispatched', data: { job_id: 'job-y', device_id: 'gpu-1', model_id: 'm', vram_requested_mib: 1n, predicted_cost_micro_usd: 1n } },
    { ...env('47', 'job-y'), kind: 'job_completed', data: { job_id: 'job-y', tokens_generated: 1, duration_ms: 1n, actual_vram_mib: 1n, cost_micro_usd: U64_MAX } },
  ];
  await publishChain(nats.nc, CHAIN, events, (i) => T0 + BigInt(i) * 1_000n);
  const p = new Projector({ pool: fx.pool, nc: nats.nc, chainId: CHAIN, exitAtHead: true, logger: silentLogger(), registry: new Registry() }).start();
  await p.done;
  api = await startApi({
    databaseUrl: fx.db.url,
    chainId: CHAIN,
    keys: [keys.operator.entry, keys.t47.entry],
    httpPort: 0,
    grpcPort: 0,
    logger: silentLogger(),
    registry: new Registry(),
    dashboard: false,
  });
  clients.http = createApiClient(api.http!.url, keys.operator.key);
  clients.grpc = createApiClient(`grpc://${api.grpc!.address}`, keys.operator.key);
  tenantClients.http = createApiClient(api.http!.url, keys.t47.key);
  tenantClients.grpc = createApiClient(`grpc://${api.grpc!.address}`, keys.t47.key);
});

afterAll(async () => {
  for (const c of [...Object.values(clients), ...Object.values(tenantClients)]) c.close();
  await api?.close();
});

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return e instanceof HwlError ? `${e.code}: ${e.message}` : String(e);
  }
}

describe('values above 2^64 - 1 in the read models', () => {
  it('the HTTP answer holds them exactly (decimal strings)', async () => {
    const c = await clients.http.getCostSummary({});
    expect(c.jobs).toBe(2n);
    expect(c.reportedCostMicroUsd).toBe(2n * U64_MAX);
    expect(c.totalCostMicroUsd > U64_MAX).toBe(true);
  });

  it.each([
    ['GetCostSummary (fleet)', (c: ApiClient) => c.getCostSummary({})],
    ['GetCostSummary (device)', (c: ApiClient) => c.getCostSummary({ deviceId: 'gpu-1' })],
    ['GetDispatchHistory', (c: ApiClient) => c.getDispatchHistory({ deviceId: 'gpu-1' })],
    ['GetReconciliation', (c: ApiClient) => c.getReconciliation({ jobId: 'job-x' })],
    ['GetTenantSummary', (c: ApiClient) => c.getTenantSummary({ tenant: '47' })],
    ['GetFleetReconciliation', (c: ApiClient) => c.getFleetReconciliation({})],
  ])('%s: gRPC never answers INTERNAL where HTTP answers', async (_name, call) => {
    expect(await outcome(call(clients.http))).toBe('OK');
    // gRPC uint64 cannot carry the value: a stable code naming the field, not INTERNAL.
    const grpc = await outcome(call(clients.grpc));
    expect(grpc).not.toMatch(/^INTERNAL/);
    expect(grpc).toMatch(/^(OK|FAILED_PRECONDITION: the answer's \w+ is above 2\^64 - 1.*HTTP)/);
  });

  it('counts such a gRPC answer under its status, not as OK', async () => {
    await outcome(clients.grpc.getCostSummary({}));
    const text = await api.metrics.registry.metrics();
    expect(text).toMatch(/hwl_api_requests_total\{route="\/hwledger\.v1\.LedgerQuery\/GetCostSummary",code="FAILED_PRECONDITION"\} [1-9]/);
  });

  it('still answers values within range over gRPC, and a tenant its own summary over HTTP', async () => {
    const h = await clients.grpc.getDispatchHistory({ deviceId: 'gpu-1', pageSize: 1 });
    expect(h.dispatches.map((d) => d.jobId)).toEqual(['job-y']);
    expect(h.dispatches[0]?.reportedCostMicroUsd).toBe(U64_MAX);
    expect((await tenantClients.http.getTenantSummary({ tenant: '47' })).costMicroUsd > U64_MAX).toBe(true);
  });
});
