/**
 * The dashboard's HTTP handler (services/api/src/dashboard) on a real
 * Postgres with the projector's schema and known read-model rows: static
 * assets with a strict CSP and nothing from another origin, operator-only
 * JSON endpoints, input validation, and the numbers it charts (per-minute
 * and per-hour tenant series, exact totals past 2^53, sealing rate, fleet,
 * flags, recent jobs and requests).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '@hwledger/testkit';
import { migrate } from '@hwledger/projector';
import { generateKey } from '../src/api-keys.js';
import { ASSETS_DIR, ASSET_NAMES, dashboardHandlers } from '../src/dashboard/index.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 10, 22, 12, 30, 0);
const operator = generateKey({ role: 'operator', id: 'op' });
const tenantKey = generateKey({ role: 'tenant', tenant: 'acme', id: 'acme' });

const db = useTestDatabase({ prefix: 'hwl_dash', max: 3, setup: (pool) => migrate(pool) });
let server: Server;
let base = '';

async function get(path: string, key?: string, method = 'GET'): Promise<{ status: number; headers: Headers; text: string; json: () => unknown }> {
  const res = await fetch(`${base}${path}`, { method, redirect: 'manual', headers: key ? { authorization: `Bearer ${key}` } : {} });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as unknown };
}

beforeAll(async () => {
  const h = Buffer.alloc(32, 1);
  const rec = (seq: number, sealed: number, extra: Record<string, unknown> = {}): unknown[] => [
    'eu-west-1', seq, h, h, Buffer.from([1]), extra['kind'] ?? 'metrics_collected', extra['tenant'] ?? '', 'i', 'eu-west-1/n1', `e${seq}`, sealed, sealed, extra['job_id'] ?? null, null, null, '{}',
  ];
  for (const r of [rec(1, NOW - 100_000), rec(1001, NOW, { kind: 'job_completed', tenant: 'acme', job_id: 'job-1' })]) {
    await db.pool.query('INSERT INTO records (chain_id, sequence, prev_hash, hash, canonical, kind, tenant, instance_id, source, event_id, observed_at_ms, sealed_at_ms, job_id, request_id, device_id, data) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)', r);
  }
  await db.pool.query(`INSERT INTO chain_status (chain_id, head_sequence, verified_sequence, verified_hash, status) VALUES ('eu-west-1', 1005, 1001, $1, 'ok'), ('us-east-1', 7, 5, $1, 'broken')`, [h]);
  await db.pool.query(`UPDATE chain_status SET broken_sequence = 6, broken_reason = 'hash_mismatch', broken_message = 'record 6 hash differs' WHERE chain_id = 'us-east-1'`);
  await db.pool.query(`INSERT INTO devices (chain_id, device_id, registered, hostname, device_type, vram_total_mib, vram_used_mib, utilization_pct, temperature_mc, power_mw, last_seen_at_ms, metrics_count)
    VALUES ('eu-west-1', 'GPU-a', true, 'node-1', 'NVIDIA H100 80GB HBM3', 81559, 40000, 87, 71500, 612000, $1, 3), ('us-east-1', 'GPU-b', false, null, null, null, 1000, 5, 40000, 90000, $1, 1)`, [NOW]);
  // Inference requests in two minutes of the last hour; a huge cost to check exact totals.
  const req = 'INSERT INTO inference_requests (chain_id, sequence, tenant, tenant_id, request_id, total_tokens, compute_ms, reason, sealed_at_ms, observed_at_ms, rated_cost_micro_usd) VALUES ($1,$2,$3,$3,$4,$5,$6,$7,$8::bigint,$8::numeric,$9)';
  await db.pool.query(req, ['eu-west-1', 10, 'acme', 'r1', 100, 1000, 'end_of_sequence', NOW - 5 * MIN, '9007199254740993']);
  await db.pool.query(req, ['eu-west-1', 11, 'acme', 'r2', 50, 500, 'cancelled', NOW - 5 * MIN + 10, '7']);
  await db.pool.query(req, ['us-east-1', 12, 'globex', 'r3', 30, 300, 'end_of_sequence', NOW - MIN, '3']);
  await db.pool.query(req, ['us-east-1', 13, 'globex', 'old', 999, 999, 'preempted', NOW - 2 * HOUR, '1']);
  await db.pool.query(`INSERT INTO jobs (chain_id, job_id, status, completion_tenant, tokens_generated, duration_ms, completion_sequence, completed_at_ms, rated_cost_micro_usd, last_sequence, completion_count)
    VALUES ('eu-west-1', 'job-1', 'completed', 'acme', 20, 2000, 1001, $1, 11, 1001, 1)`, [NOW - 5 * MIN]);
  await db.pool.query(`INSERT INTO tenant_usage_hourly (chain_id, tenant, window_start_ms, request_count, request_tokens, request_compute_ms, request_cost_micro_usd, job_tokens, job_duration_ms, job_rated_cost_micro_usd)
    VALUES ('eu-west-1', 'acme', $1, 2, 150, 1500, 100, 20, 2000, 11), ('us-east-1', 'globex', $2, 1, 999, 999, 1, 0, 0, 0)`, [Math.floor(NOW / HOUR) * HOUR, Math.floor(NOW / HOUR) * HOUR - 2 * HOUR]);
  await db.pool.query(`INSERT INTO tenant_reason_hourly (chain_id, tenant, window_start_ms, reason, request_count, tokens, compute_ms) VALUES ('eu-west-1', 'acme', $1, 'end_of_sequence', 1, 100, 1000)`, [Math.floor(NOW / HOUR) * HOUR]);
  await db.pool.query(`INSERT INTO job_reconciliation (chain_id, job_id, status, device_id, model_id, predicted_vram_mib, actual_vram_mib, predicted_cost_micro_usd, actual_cost_micro_usd, flags, chain_time_ms)
    VALUES ('eu-west-1', 'job-1', 'completed', 'GPU-a', 'm', 16384, 20000, 1250000, 1500000, '{vram_variance}', $1)`, [NOW]);
  await db.pool.query(`INSERT INTO reconciliation_flags (chain_id, job_id, flag, detail, chain_time_ms) VALUES ('eu-west-1', 'job-1', 'vram_variance', 'actual VRAM 20000 MiB vs predicted 16384 MiB', $1)`, [NOW]);

  const handlers = dashboardHandlers({ pool: db.pool, keys: [operator.entry, tenantKey.entry], now: () => NOW });
  server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      for (const h of handlers) if (await h(req, res, url)) return;
      res.writeHead(404).end();
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  if (server) await new Promise((r) => server.close(r));
});

describe('dashboard static assets', () => {
  it('serves the page and every asset with a strict CSP, from this origin only', async () => {
    expect((await get('/dashboard')).status).toBe(308);
    const page = await get('/dashboard/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'; style-src 'self'/);
    for (const name of ASSET_NAMES) {
      const a = await get(`/dashboard/${name}`);
      expect(a.status, name).toBe(200);
      // No CDN, no remote font or script: the only absolute URL is the SVG namespace.
      expect(a.text.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, ''), name).not.toMatch(/https?:\/\//);
      expect(a.text, name).not.toMatch(/\.(inner|outer)HTML\s*=|insertAdjacentHTML|\beval\(|new Function/);
    }
    expect(readFileSync(join(ASSETS_DIR, 'index.html'), 'utf8')).not.toMatch(/<script>(?!<\/script>)|onclick=|style="/);
  });

  it('serves nothing outside its allow-list', async () => {
    for (const p of ['/dashboard/../package.json', '/dashboard/%2e%2e/%2e%2e/package.json', '/dashboard/dashboard-queries.ts', '/dashboard/assets/index.html']) {
      const r = await get(p);
      expect(r.status, p).not.toBe(200);
    }
    expect((await get('/dashboard/', undefined, 'POST')).status).toBe(405);
  });
});

describe('dashboard JSON endpoints', () => {
  it('need an operator key', async () => {
    expect((await get('/dashboard/api/chains')).status).toBe(401);
    expect((await get('/dashboard/api/chains', 'hwl_wrong')).status).toBe(401);
    expect((await get('/dashboard/api/chains', tenantKey.key)).status).toBe(403);
    expect((await get('/dashboard/api/chains', operator.key)).status).toBe(200);
  });

  it('validate their parameters', async () => {
    expect((await get('/dashboard/api/tenants?range=2h', operator.key)).status).toBe(400);
    // Names every object has are not ranges (400, not a query with an undefined span).
    for (const r of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) expect((await get(`/dashboard/api/tenants?range=${r}`, operator.key)).status).toBe(400);
    expect((await get('/dashboard/api/tenants?chain=not%20a%20chain', operator.key)).status).toBe(400);
    expect((await get('/dashboard/api/recent', operator.key)).status).toBe(400);
    expect((await get('/dashboard/api/nope', operator.key)).status).toBe(404);
  });

  it('chains: status, verified head and sealing rate (chain time)', async () => {
    const { chains } = (await get('/dashboard/api/chains', operator.key)).json() as { chains: Record<string, unknown>[] };
    expect(chains.map((c) => c['chainId'])).toEqual(['eu-west-1', 'us-east-1']);
    expect(chains[0]).toMatchObject({ headSequence: '1005', verifiedSequence: '1001', status: 'ok', verifiedHash: '01'.repeat(32), lastSealedAtMs: NOW });
    expect(chains[0]!['sealingRatePerSec']).toBeCloseTo(10, 6); // 1000 records in 100 s
    expect(chains[1]).toMatchObject({ status: 'broken', brokenSequence: '6', brokenReason: 'hash_mismatch' });
  });

  it('fleet: devices by region with VRAM, utilization, temperature, power', async () => {
    const { devices, regions } = (await get('/dashboard/api/fleet', operator.key)).json() as { devices: Record<string, unknown>[]; regions: unknown[] };
    expect(regions).toEqual([
      { chainId: 'eu-west-1', devices: 1, listed: 1, vramUsedMib: 40000, vramTotalMib: 81559, powerMw: 612000 },
      { chainId: 'us-east-1', devices: 1, listed: 1, vramUsedMib: 1000, vramTotalMib: 0, powerMw: 90000 },
    ]);
    expect(devices).toEqual([
      { chainId: 'eu-west-1', deviceId: 'GPU-a', hostname: 'node-1', deviceType: 'NVIDIA H100 80GB HBM3', vramUsedMib: 40000, vramTotalMib: 81559, utilizationPct: 87, temperatureMc: 71500, powerMw: 612000, lastSeenAtMs: NOW, registered: true },
      { chainId: 'us-east-1', deviceId: 'GPU-b', hostname: null, deviceType: null, vramUsedMib: 1000, vramTotalMib: null, utilizationPct: 5, temperatureMc: 40000, powerMw: 90000, lastSeenAtMs: NOW, registered: false },
    ]);
  });

  it('fleet: a list cut at its limit keeps every region and its totals, and says how many devices it lists', async () => {
    // Before, the list was cut at 2,000 devices with no word of it, and each region's header summed only the listed ones.
    const cut = dashboardHandlers({ pool: db.pool, keys: [operator.entry], now: () => NOW, fleetListLimit: 1 });
    const srv = createServer((req, res) => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        for (const h of cut) if (await h(req, res, url)) return;
        res.writeHead(404).end();
      })();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    try {
      const res = await fetch(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/dashboard/api/fleet`, { headers: { authorization: `Bearer ${operator.key}` } });
      const body = (await res.json()) as { devices: { deviceId: string }[]; regions: unknown[] };
      expect(body.devices.map((d) => d.deviceId)).toEqual(['GPU-a']);
      expect(body.regions).toEqual([
        { chainId: 'eu-west-1', devices: 1, listed: 1, vramUsedMib: 40000, vramTotalMib: 81559, powerMw: 612000 },
        { chainId: 'us-east-1', devices: 1, listed: 0, vramUsedMib: 1000, vramTotalMib: 0, powerMw: 90000 },
      ]);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  it('tenants, last hour per minute: requests and job completions, reasons, exact totals', async () => {
    const t = (await get('/dashboard/api/tenants?range=1h', operator.key)).json() as {
      buckets: number[];
      bucketMs: number;
      tenants: { tenant: string; tokens: number[]; computeMs: number[]; requests: number[] }[];
      reasons: { reason: string; counts: number[] }[];
      totals: Record<string, string>[];
    };
    expect(t.bucketMs).toBe(MIN);
    expect(t.buckets).toHaveLength(60);
    const at = (ms: number): number => t.buckets.indexOf(Math.floor(ms / MIN) * MIN);
    const acme = t.tenants.find((x) => x.tenant === 'acme')!;
    expect(acme.tokens[at(NOW - 5 * MIN)]).toBe(170); // 100 + 50 request tokens + 20 job tokens
    expect(acme.requests[at(NOW - 5 * MIN)]).toBe(2);
    expect(acme.computeMs[at(NOW - 5 * MIN)]).toBe(3500);
    expect(t.tenants.find((x) => x.tenant === 'globex')!.tokens[at(NOW - MIN)]).toBe(30);
    expect(t.reasons.find((r) => r.reason === 'cancelled')!.counts[at(NOW - 5 * MIN)]).toBe(1);
    expect(t.reasons.some((r) => r.reason === 'preempted')).toBe(false); // two hours ago: outside the window
    expect(t.totals).toEqual([
      { tenant: 'acme', requests: '2', tokens: '170', computeMs: '3500', costMicroUsd: '9007199254741011' }, // 2^53+1 + 7 + 11, exact
      { tenant: 'globex', requests: '1', tokens: '30', computeMs: '300', costMicroUsd: '3' },
    ]);
    const eu = (await get('/dashboard/api/tenants?range=1h&chain=us-east-1', operator.key)).json() as { totals: { tenant: string }[] };
    expect(eu.totals.map((x) => x.tenant)).toEqual(['globex']);
  });

  it('tenants, last 24 hours per hour: from the hourly rollups', async () => {
    const t = (await get('/dashboard/api/tenants?range=24h', operator.key)).json() as { bucketMs: number; totals: Record<string, string>[]; reasons: { reason: string; counts: number[] }[] };
    expect(t.bucketMs).toBe(HOUR);
    expect(t.totals).toEqual([
      { tenant: 'acme', requests: '2', tokens: '170', computeMs: '3500', costMicroUsd: '111' },
      { tenant: 'globex', requests: '1', tokens: '999', computeMs: '999', costMicroUsd: '1' },
    ]);
    expect(t.reasons.map((r) => r.reason)).toEqual(['end_of_sequence']);
  });

  it('flags and recent jobs and requests', async () => {
    const f = (await get('/dashboard/api/flags', operator.key)).json() as { items: Record<string, unknown>[]; counts: unknown[] };
    expect(f.counts).toEqual([{ flag: 'vram_variance', n: 1 }]);
    expect(f.items[0]).toMatchObject({ chainId: 'eu-west-1', jobId: 'job-1', flag: 'vram_variance', predictedVramMib: '16384', actualVramMib: '20000', predictedCostMicroUsd: '1250000', actualCostMicroUsd: '1500000' });
    const r = (await get('/dashboard/api/recent?chain=eu-west-1', operator.key)).json() as { jobs: { jobId: string }[]; requests: { requestId: string }[] };
    expect(r.jobs.map((j) => j.jobId)).toEqual(['job-1']);
    expect(r.requests.map((q) => q.requestId)).toEqual(['r2', 'r1']);
  });
});
