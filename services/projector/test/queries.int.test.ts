/**
 * The query functions the API serves (docs/read-models.md): answers equal a
 * recomputation from the chain; pages walk everything exactly once; bad
 * arguments are INVALID_ARGUMENT with a message, never a database error.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import {
  auditTrail,
  chainStatus,
  costSummary,
  dispatchHistory,
  listChains,
  listTenants,
  migrate,
  Projector,
  tenantSummary,
  toJsonSafe,
  type AuditEntry,
  type DispatchRecord,
} from '@hwledger/projector';
import { seedChain, SEED_START_MS } from './helpers/seed-chain.js';
import { simulateEvents } from './helpers/fleet.js';
import { readChainRows, recompute, type Book, type ChainRow } from './helpers/recompute.js';
import { addBook } from './helpers/books.js';

const CHAIN = 'queries';
const H = 3_600_000n;
const STEP = 7_000n; // 8000 records over ~15.5 hours: hourly and daily rollups both in play

const nats = useNatsServer();
const db = useTestDatabase({ setup: (pool) => migrate(pool) });
let rows: ChainRow[];
const books: Book[] = [];

beforeAll(async () => {
  await addBook(db.pool, (SEED_START_MS / H + 3n) * H, { '*': 2_000_000n, H100: 4_000_000n }, { '*': 500_000n }, books);
  await seedChain(nats.nc, CHAIN, simulateEvents(8_000, { seed: 9 }), { sealedAtMs: (i) => SEED_START_MS + BigInt(i) * STEP });
  const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: CHAIN, exitAtHead: true }).start();
  await p.done;
  rows = await readChainRows(nats.nc, CHAIN);
});

/** Straight scan of decoded records: the tenant summary of [from, to). */
let cached: ReturnType<typeof recompute> | undefined;
function scanSummary(tenant: string, from: bigint, to: bigint) {
  const exp = (cached ??= recompute(CHAIN, rows, books));
  let count = 0n;
  let tokens = 0n;
  let compute = 0n;
  let cost = 0n;
  const byReason = new Map<string, bigint>();
  for (const r of exp['inference_requests']!.values()) {
    const at = BigInt(r['sealed_at_ms']!);
    if (r['tenant'] !== tenant || at < from || at >= to) continue;
    count++;
    tokens += BigInt(r['total_tokens']!);
    compute += BigInt(r['compute_ms']!);
    cost += BigInt(r['rated_cost_micro_usd'] ?? '0');
    byReason.set(r['reason']!, (byReason.get(r['reason']!) ?? 0n) + 1n);
  }
  let jobsCost = 0n;
  let jobs = 0n;
  for (const j of exp['jobs']!.values()) {
    const at = j['completed_at_ms'] === null ? undefined : BigInt(j['completed_at_ms']!);
    if (at === undefined || j['completion_tenant'] !== tenant || at < from || at >= to) continue;
    jobs++;
    jobsCost += BigInt(j['rated_cost_micro_usd'] ?? '0');
  }
  return { count, tokens, compute, cost, byReason, jobs, total: cost + jobsCost };
}

describe('query functions', () => {
  it('tenantSummary equals a scan of the chain over whole-hour ranges, across day boundaries', async () => {
    const first = (SEED_START_MS / H) * H;
    const ranges: [bigint, bigint][] = [
      [first, first + 20n * H],
      [first + 2n * H, first + 5n * H],
      [first + 1n, first + 7n * H - 1n], // widened to whole hours
      [first + 9n * H, first + 10n * H],
      [0n, 2n ** 62n],
    ];
    for (const tenant of ['acme', 'globex', 'hooli']) {
      for (const [from, to] of ranges) {
        const s = await tenantSummary(db.pool, { chainId: CHAIN, tenant, fromMs: from, toMs: to });
        const af = (from / H) * H;
        const at = ((to + H - 1n) / H) * H;
        expect([s.fromMs, s.toMs]).toEqual([af, at]);
        const e = scanSummary(tenant, af, at);
        expect(s.requests).toMatchObject({ count: e.count, tokens: e.tokens, computeMs: e.compute, costMicroUsd: e.cost });
        expect(s.jobs.completed).toBe(e.jobs);
        expect(s.totalCostMicroUsd).toBe(e.total);
        expect(new Map(s.byReason.map((r) => [r.reason, r.count]))).toEqual(e.byReason);
      }
    }
    const all = await tenantSummary(db.pool, { chainId: CHAIN, tenant: 'acme', fromMs: '0', toMs: (2n ** 62n).toString() });
    expect(all.requests.count).toBeGreaterThan(100n);
    expect(all.requests.unrated).toBeGreaterThan(0n); // records before the book took effect
    expect(all.priceBookVersions).toEqual([1]);
    expect(JSON.parse(JSON.stringify(toJsonSafe(all)))).toMatchObject({ requests: { count: all.requests.count.toString() } });
    const tenants = [...new Set([...recompute(CHAIN, rows, books)['tenant_usage_daily']!.values()].map((u) => u['tenant']!))].sort();
    expect(tenants.length).toBe(5);
    expect(await listTenants(db.pool, { chainId: CHAIN })).toEqual(tenants);
  });

  it('costSummary matches the jobs, fleet-wide and per device', async () => {
    const jobs = [...recompute(CHAIN, rows, books)['jobs']!.values()].filter((j) => j['completion_sequence'] !== null);
    const fleet = await costSummary(db.pool, { chainId: CHAIN });
    expect(fleet.jobsCompleted).toBe(BigInt(jobs.length));
    expect(fleet.reportedCostMicroUsd).toBe(jobs.reduce((a, j) => a + BigInt(j['reported_cost_micro_usd']!), 0n));
    expect(fleet.ratedCostMicroUsd).toBe(jobs.reduce((a, j) => a + BigInt(j['rated_cost_micro_usd'] ?? '0'), 0n));
    const g0 = jobs.filter((j) => j['device_id'] === 'gpu-0');
    const dev = await costSummary(db.pool, { chainId: CHAIN, deviceId: 'gpu-0' });
    expect(dev).toMatchObject({
      deviceId: 'gpu-0',
      jobsCompleted: BigInt(g0.length),
      reportedCostMicroUsd: g0.reduce((a, j) => a + BigInt(j['reported_cost_micro_usd']!), 0n),
    });
    const total = dev.reportedCostMicroUsd;
    expect(dev.avgReportedCostMicroUsd).toBe((2n * total + dev.jobsCompleted) / (2n * dev.jobsCompleted));
  });

  it('dispatchHistory pages through every dispatch of a device, newest first, exactly once', async () => {
    const expected = [...recompute(CHAIN, rows, books)['jobs']!.values()].filter((j) => j['device_id'] === 'gpu-1' && j['dispatch_sequence'] !== null);
    const seen: DispatchRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await dispatchHistory(db.pool, { chainId: CHAIN, deviceId: 'gpu-1', page: { limit: 7, cursor } });
      seen.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.length).toBe(expected.length);
    expect(new Set(seen.map((j) => j.jobId)).size).toBe(expected.length);
    const seqs = seen.map((j) => j.dispatchSequence);
    expect([...seqs].sort((a, b) => (a < b ? 1 : -1))).toEqual(seqs);
  });

  it('auditTrail returns every record of a key with hashes that verify, and flags a forged row', async () => {
    const job = rows.find((r) => r.record.kind === 'job_completed')!.record as { data: { job_id: string } };
    const jobId = job.data.job_id;
    const trail = await auditTrail(db.pool, { key: jobId, chainId: CHAIN });
    const expected = rows.filter((r) => (r.record.data as { job_id?: string }).job_id === jobId).map((r) => r.record.sequence);
    expect(trail.items.map((e) => e.sequence)).toEqual(expected);
    expect(trail.items.every((e) => e.hashVerified && e.withinVerifiedPrefix && e.matchedOn.includes('job_id'))).toBe(true);

    // A device's trail (metrics, registration, dispatches) paged 50 at a time.
    const all: AuditEntry[] = [];
    let cursor: string | undefined;
    do {
      const page = await auditTrail(db.pool, { key: 'gpu-2', page: { limit: 50, cursor } });
      all.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    const devRows = rows.filter((r) => (r.record.data as { device_id?: string }).device_id === 'gpu-2');
    expect(all.map((e) => e.sequence)).toEqual(devRows.map((r) => r.record.sequence));

    // Someone edits a stored record: the trail shows it no longer verifies.
    const victim = expected[0]!;
    await db.pool.query(
      `UPDATE records SET canonical = set_byte(canonical, length(canonical) - 1, get_byte(canonical, length(canonical) - 1) # 1) WHERE chain_id = $1 AND sequence = $2`,
      [CHAIN, victim.toString()],
    );
    const forged = await auditTrail(db.pool, { key: jobId, chainId: CHAIN });
    expect(forged.items.find((e) => e.sequence === victim)?.hashVerified).toBe(false);
    await db.pool.query(
      `UPDATE records SET canonical = set_byte(canonical, length(canonical) - 1, get_byte(canonical, length(canonical) - 1) # 1) WHERE chain_id = $1 AND sequence = $2`,
      [CHAIN, victim.toString()],
    );
  });

  it('chainStatus reports the verified head', async () => {
    const s = await chainStatus(db.pool, CHAIN);
    expect(s).toMatchObject({ status: 'ok', verifiedSequence: 8_000n, headSequence: 8_000n, lagRecords: 0n, brokenSequence: null });
    expect(s.verifiedSealedAtMs).toBe(SEED_START_MS + 7_999n * STEP);
    expect(await listChains(db.pool)).toEqual([CHAIN]);
    await expect(chainStatus(db.pool, 'unknown-chain')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('rejects bad ids, ranges and pages with INVALID_ARGUMENT', async () => {
    const bad = [
      () => tenantSummary(db.pool, { chainId: 'bad chain', tenant: 'acme', fromMs: 0, toMs: 1 }),
      () => tenantSummary(db.pool, { chainId: CHAIN, tenant: 'acme', fromMs: 10, toMs: 5 }),
      () => tenantSummary(db.pool, { chainId: CHAIN, tenant: 'acme', fromMs: -1, toMs: 5 }),
      () => tenantSummary(db.pool, { chainId: CHAIN, tenant: 'acme', fromMs: '1e3', toMs: 5 }),
      () => tenantSummary(db.pool, { chainId: CHAIN, tenant: 'a\u0000b', fromMs: 0, toMs: 5 }),
      () => tenantSummary(db.pool, { chainId: CHAIN, tenant: 'acme', fromMs: 0, toMs: (2n ** 63n).toString() }),
      () => dispatchHistory(db.pool, { chainId: CHAIN, deviceId: '', page: {} }),
      () => dispatchHistory(db.pool, { chainId: CHAIN, deviceId: 'gpu-1', page: { limit: 0 } }),
      () => dispatchHistory(db.pool, { chainId: CHAIN, deviceId: 'gpu-1', page: { limit: 1001 } }),
      () => dispatchHistory(db.pool, { chainId: CHAIN, deviceId: 'gpu-1', page: { cursor: 'not-a-cursor' } }),
      () => dispatchHistory(db.pool, { chainId: CHAIN, deviceId: 'gpu-1', page: { cursor: Buffer.from('["1; DROP TABLE jobs"]').toString('base64url') } }),
      () => auditTrail(db.pool, { key: 'x'.repeat(300) }),
      () => auditTrail(db.pool, { key: 'job-1', page: { cursor: Buffer.from('["a"]').toString('base64url') } }),
      () => costSummary(db.pool, { chainId: CHAIN, deviceId: '' }),
    ];
    for (const f of bad) await expect(f()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
