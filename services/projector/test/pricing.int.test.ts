/**
 * Pricing: a versioned, effective-dated price book applied at aggregation
 * time; a new book re-rates exactly the windows it affects; every cost names
 * the version that produced it; `hwledger pricing set/list`; and a price
 * change racing a running projector leaves no line rated by the wrong book.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { ChainEvent } from '@hwledger/chain';
import { runCli, useNatsServer, useTestDatabase, waitFor } from '@hwledger/testkit';
import { migrate, Projector, tenantSummary } from '@hwledger/projector';
import { seedChain, SEED_START_MS } from './helpers/seed-chain.js';
import { simulateEvents } from './helpers/fleet.js';
import { diffTables, dumpTables, readChainRows, recompute, type Book } from './helpers/recompute.js';
import { addBook } from './helpers/books.js';

const H = 3_600_000n;
const H0 = (SEED_START_MS / H + 1n) * H;
const H1 = H0 + H;

const nats = useNatsServer();
const db = useTestDatabase({ setup: (pool) => migrate(pool) });
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hwl-pricing-'));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
const env = (tenant: string, id: string) => ({ source: 'sim', eventId: `p-${n++}`, observedAtMs: H0, tenant, instanceId: id });

async function pricingSet(book: object): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const file = join(dir, `book-${n++}.json`);
  writeFileSync(file, JSON.stringify(book));
  return runCli(['pricing', 'set', '--file', file, '--db', db.db.url]);
}

async function job(id: string): Promise<{ rated: string | null; version: number | null }> {
  const r = await db.pool.query('SELECT rated_cost_micro_usd AS rated, price_book_version AS version FROM jobs WHERE chain_id = $1 AND job_id = $2', [
    'price',
    id,
  ]);
  return r.rows[0];
}

describe('pricing', () => {
  it('rates at aggregation time and re-rates only the affected windows', async () => {
    const at = [H0, H0 + 60_000n, H0 + 2_400_000n, H1, H1 + 60_000n, H1 + 2_400_000n, H1 + 2_500_000n];
    const events: ChainEvent[] = [
      { ...env('', 'gpu-a'), kind: 'device_registered', data: { device_id: 'gpu-a', hostname: 'h', device_type: 'H100', vram_total_mib: 80_000n } },
      {
        ...env('acme', 'job-1'),
        kind: 'job_dispatched',
        data: { job_id: 'job-1', device_id: 'gpu-a', model_id: 'llama-3-70b', vram_requested_mib: 1n, predicted_cost_micro_usd: 1n },
      },
      {
        ...env('acme', 'job-1'),
        kind: 'job_completed',
        data: { job_id: 'job-1', tokens_generated: 2_000_000, duration_ms: 1_800_000n, actual_vram_mib: 1n, cost_micro_usd: 42n },
      },
      {
        ...env('acme', 'r1'),
        kind: 'inference_request_completed',
        data: { tenant_id: 'acme', request_id: 'r1', total_tokens: 1_000_000, compute_ms: 3_600_000n, reason: 'end_of_sequence' },
      },
      {
        ...env('acme', 'job-2'),
        kind: 'job_dispatched',
        data: { job_id: 'job-2', device_id: 'gpu-a', model_id: 'mistral-7b', vram_requested_mib: 1n, predicted_cost_micro_usd: 1n },
      },
      {
        ...env('acme', 'job-2'),
        kind: 'job_completed',
        data: { job_id: 'job-2', tokens_generated: 0, duration_ms: 360_000n, actual_vram_mib: 1n, cost_micro_usd: 7n },
      },
      {
        ...env('acme', 'r2'),
        kind: 'inference_request_completed',
        data: { tenant_id: 'acme', request_id: 'r2', total_tokens: 0, compute_ms: 1n, reason: 'cancelled' },
      },
    ];
    await seedChain(nats.nc, 'price', events, { sealedAtMs: (i) => at[i]! });
    const books: Book[] = [];

    // v1 from H0, set through the CLI before projection.
    const v1 = await pricingSet({
      effective_from: new Date(Number(H0)).toISOString(),
      note: 'launch',
      gpu_hour_micro_usd: { '*': 1_000_000, H100: '4000000' },
      token_micro_usd_per_mtok: { '*': 100_000, 'llama-3-70b': 900_000 },
    });
    expect(v1.code).toBe(0);
    expect(JSON.parse(v1.stdout)).toMatchObject({ version: 1, rerated_from_ms: H0.toString(), rerated_to_ms: null });
    books.push({ version: 1, effectiveFromMs: H0, gpu: { '*': 1_000_000n, H100: 4_000_000n }, tok: { '*': 100_000n, 'llama-3-70b': 900_000n } });
    const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: 'price', exitAtHead: true }).start();
    await p.done;
    expect(await job('job-1')).toEqual({ rated: '3800000', version: 1 }); // 0.5 h × 4 USD + 2 Mtok × 0.9 USD
    expect(await job('job-2')).toEqual({ rated: '400000', version: 1 }); // 0.1 h × 4 USD, mistral has no own rate: '*'
    let s = await tenantSummary(db.pool, { chainId: 'price', tenant: 'acme', fromMs: H0, toMs: H1 + H });
    expect(s).toMatchObject({ totalCostMicroUsd: 3_800_000n + 400_000n + 1_100_000n + 0n, priceBookVersions: [1] });
    expect(s.jobs.reportedCostMicroUsd).toBe(49n); // producer-reported cost kept apart from the rated one

    // v2 from H1: re-rates H1 only.
    const v2 = await pricingSet({
      effective_from: H1.toString(),
      gpu_hour_micro_usd: { '*': 1_800_000, H100: 2_000_000 },
      token_micro_usd_per_mtok: { '*': 200_000 },
    });
    expect(JSON.parse(v2.stdout)).toMatchObject({ version: 2, rerated_from_ms: H1.toString(), rerated_to_ms: null, rerated: { requests: 2, jobs: 1 } });
    books.push({ version: 2, effectiveFromMs: H1, gpu: { '*': 1_800_000n, H100: 2_000_000n }, tok: { '*': 200_000n } });
    expect(await job('job-1')).toEqual({ rated: '3800000', version: 1 });
    expect(await job('job-2')).toEqual({ rated: '200000', version: 2 });
    const reqs = await db.pool.query('SELECT request_id, rated_cost_micro_usd::text AS c, price_book_version AS v FROM inference_requests ORDER BY request_id');
    expect(reqs.rows).toEqual([
      { request_id: 'r1', c: '2000000', v: 2 },
      { request_id: 'r2', c: '1', v: 2 }, // 1 ms × 1.8 USD/h = 0.5 µUSD: rounded half up
    ]);

    // v3: a correction effective from H0 re-rates [H0, H1) and leaves v2 in effect after H1.
    const v3 = await pricingSet({
      effective_from_ms: Number(H0),
      gpu_hour_micro_usd: { '*': 1_000_000, H100: 3_000_000 },
      token_micro_usd_per_mtok: { '*': 100_000 },
    });
    expect(JSON.parse(v3.stdout)).toMatchObject({ version: 3, rerated_from_ms: H0.toString(), rerated_to_ms: H1.toString() });
    books.push({ version: 3, effectiveFromMs: H0, gpu: { '*': 1_000_000n, H100: 3_000_000n }, tok: { '*': 100_000n } });
    expect(await job('job-1')).toEqual({ rated: '1700000', version: 3 });
    expect(await job('job-2')).toEqual({ rated: '200000', version: 2 });
    s = await tenantSummary(db.pool, { chainId: 'price', tenant: 'acme', fromMs: H0, toMs: H1 + H });
    expect(s).toMatchObject({ totalCostMicroUsd: 1_700_000n + 200_000n + 2_000_001n, priceBookVersions: [2, 3] });
    expect(diffTables(recompute('price', await readChainRows(nats.nc, 'price'), books), await dumpTables(db.pool, 'price'))).toEqual([]);

    const list = await runCli(['pricing', 'list', '--db', db.db.url]);
    const versions = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { version: number; effective_from_ms: string });
    expect(versions.map((v) => [v.version, v.effective_from_ms])).toEqual([
      [1, H0.toString()],
      [3, H0.toString()],
      [2, H1.toString()],
    ]);
  });

  it('rejects malformed price books', async () => {
    const noDefault = await pricingSet({ effective_from_ms: Number(H0), gpu_hour_micro_usd: { H100: 1 }, token_micro_usd_per_mtok: { '*': 1 } });
    expect(noDefault.code).not.toBe(0);
    expect(noDefault.stderr).toContain('must define the default rate "*"');
    const misaligned = await pricingSet({ effective_from_ms: Number(H0) + 1, gpu_hour_micro_usd: { '*': 1 }, token_micro_usd_per_mtok: { '*': 1 } });
    expect(misaligned.stderr).toContain('whole hour');
    const negative = await pricingSet({ effective_from_ms: Number(H0), gpu_hour_micro_usd: { '*': -1 }, token_micro_usd_per_mtok: { '*': 1 } });
    expect(negative.stderr).toContain('gpu_hour_micro_usd.*');
  });

  it('never rates a line with a stale book when a price change races projection', async () => {
    const chain = 'price-race';
    const start = (SEED_START_MS / H) * H;
    await seedChain(nats.nc, chain, simulateEvents(20_000, { seed: 3 }), { sealedAtMs: (i) => SEED_START_MS + BigInt(i) * 4_000n });
    const pool2 = new pg.Pool({ connectionString: db.db.url, max: 2 }).on('error', () => undefined); // idle clients can die (other tests on the shared server)
    const books: Book[] = (await db.pool.query('SELECT version, effective_from_ms FROM price_books')).rows.length ? await existingBooks() : [];
    const p = new Projector({ pool: pool2, nc: nats.nc, chainId: chain, batchSize: 300 }).start();
    for (let k = 0; k < 6; k++) {
      await waitFor(() => p.checkpoint.sequence >= BigInt(2_500 * (k + 1)), 60_000, 5, 'progress');
      await addBook(db.pool, start + BigInt(k * 3) * H, { '*': BigInt(1_000_000 + k * 111_111), A100: 3_333_333n }, { '*': BigInt(100_000 + k * 7) }, books);
    }
    await waitFor(() => p.checkpoint.sequence === 20_000n, 60_000, 20, 'catch-up');
    await p.stop();
    await pool2.end();
    expect(diffTables(recompute(chain, await readChainRows(nats.nc, chain), books), await dumpTables(db.pool, chain))).toEqual([]);
  });
});

/** Books already in the database (from the previous test), in recompute()'s form. */
async function existingBooks(): Promise<Book[]> {
  const b = await db.pool.query<{ version: number; effective_from_ms: string }>('SELECT version, effective_from_ms FROM price_books');
  const r = await db.pool.query<{ version: number; rate_kind: string; rate_key: string; micro_usd: string }>('SELECT * FROM price_book_rates');
  return b.rows.map((x) => ({
    version: x.version,
    effectiveFromMs: BigInt(x.effective_from_ms),
    gpu: Object.fromEntries(r.rows.filter((y) => y.version === x.version && y.rate_kind === 'gpu_hour').map((y) => [y.rate_key, BigInt(y.micro_usd)])),
    tok: Object.fromEntries(r.rows.filter((y) => y.version === x.version && y.rate_kind === 'token').map((y) => [y.rate_key, BigInt(y.micro_usd)])),
  }));
}
