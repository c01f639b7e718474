/**
 * After 100k simulated events, every read model equals an independent
 * recomputation from the chain (helpers/recompute.ts), including the rated
 * costs under two price books; a later price book correction re-rates the
 * affected windows and the models still equal the recomputation.
 */
import { describe, expect, it } from 'vitest';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { migrate, Projector } from '@hwledger/projector';
import { seedChain, SEED_START_MS } from './helpers/seed-chain.js';
import { simulateEvents } from './helpers/fleet.js';
import { diffTables, dumpTables, readChainRows, recompute, type Book } from './helpers/recompute.js';
import { addBook } from './helpers/books.js';

const N = Number(process.env['HWL_TEST_SCALE'] ?? '1') * 100_000;
const CHAIN = 'proj-100k';
const H = 3_600_000n;

const nats = useNatsServer();
const db = useTestDatabase({ setup: (pool) => migrate(pool) });

describe(`projector over ${N} simulated events`, () => {
  it('projects a read model equal to an independent recomputation, then re-rates on a price change', async () => {
    const events = simulateEvents(N, { seed: 7 });
    // ~3.5 days of chain time at 3 s per record.
    const t0 = Date.now();
    await seedChain(nats.nc, CHAIN, events, { sealedAtMs: (i) => SEED_START_MS + BigInt(i) * 3_000n });
    const seeded = Date.now() - t0;
    const day1 = (SEED_START_MS / H + 20n) * H;
    const books: Book[] = [];
    await addBook(db.pool, (SEED_START_MS / H) * H, { '*': 2_000_000n, H100: 4_000_000n, A100: 3_000_000n }, { '*': 500_000n, 'llama-3-70b': 900_000n }, books);
    await addBook(db.pool, day1, { '*': 2_500_000n, H100: 4_100_000n }, { '*': 600_000n, 'mistral-7b': 100_000n }, books);

    const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: CHAIN, batchSize: 2000, exitAtHead: true }).start();
    const t1 = Date.now();
    await p.done;
    const projected = Date.now() - t1;
    expect(p.state).toBe('caught_up');
    expect(p.checkpoint.sequence).toBe(BigInt(N));

    const rows = await readChainRows(nats.nc, CHAIN);
    expect(rows.length).toBe(N);
    const expected = recompute(CHAIN, rows, books);
    expect(diffTables(expected, await dumpTables(db.pool, CHAIN))).toEqual([]);
    // The fixture exercises what it claims to.
    expect(expected['jobs']!.size).toBeGreaterThan(10_000);
    expect([...expected['jobs']!.values()].some((j) => j['dispatch_sequence'] === null)).toBe(true);
    expect([...expected['jobs']!.values()].some((j) => Number(j['completion_count']) > 1)).toBe(true);
    expect([...expected['device_metrics']!.values()].some((m) => BigInt(m['vram_used_mib']!) > 2n ** 63n)).toBe(true);
    expect([...expected['tenant_usage_hourly']!.values()].some((u) => u['price_book_versions'] === '[2]')).toBe(true);

    // A correction to the first book re-rates its windows only (book 2 stays in effect after day1).
    const t2 = Date.now();
    await addBook(db.pool, (SEED_START_MS / H) * H, { '*': 1_000_000n, L4: 700_000n }, { '*': 400_000n }, books);
    const rerated = Date.now() - t2;
    const expected2 = recompute(CHAIN, rows, books);
    expect(diffTables(expected2, await dumpTables(db.pool, CHAIN))).toEqual([]);
    expect([...expected2['tenant_usage_hourly']!.values()].some((u) => u['price_book_versions'] === '[3]')).toBe(true);
    expect([...expected2['tenant_usage_hourly']!.values()].some((u) => u['price_book_versions'] === '[2]')).toBe(true);
    console.log(`seeded ${N} in ${seeded} ms, projected in ${projected} ms (${Math.round((N / projected) * 1000)} rec/s), re-rated in ${rerated} ms`);
  });
});
