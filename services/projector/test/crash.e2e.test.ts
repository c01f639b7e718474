/**
 * kill -9 of the projector process mid-batch, restarted: the read models
 * still equal an independent recomputation of exactly the records up to the
 * checkpoint (nothing lost, nothing counted twice), and after the last
 * restart, of the whole chain. Spawns the built CLI (`npx tsc -b packages/cli`).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { spawnCli, useNatsServer, useTestDatabase, waitFor } from '@hwledger/testkit';
import { migrate } from '@hwledger/projector';
import { seedChain, SEED_START_MS } from './helpers/seed-chain.js';
import { simulateEvents } from './helpers/fleet.js';
import { diffTables, dumpTables, readChainRows, recompute, type Book } from './helpers/recompute.js';
import { addBook } from './helpers/books.js';
import { checkpointOf } from './helpers/wait.js';

const N = Number(process.env['HWL_TEST_SCALE'] ?? '1') * 30_000;
const CHAIN = 'proj-crash';
const H = 3_600_000n;

const nats = useNatsServer();
const db = useTestDatabase({ max: 3, setup: (pool) => migrate(pool) });
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function projector(extra: string[] = [], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const p = spawnCli(['projector', '--nats', nats.url, '--chain', CHAIN, '--db', db.db.url, '--batch', '500', ...extra], {
    env: { HWL_LOG_LEVEL: 'warn', ...env },
  });
  children.push(p);
  return p;
}

function exited(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve({ code: p.exitCode, signal: p.signalCode });
  return new Promise((resolve) => p.once('exit', (code, signal) => resolve({ code, signal })));
}

/** The read models equal the recomputation of records 1..checkpoint, exactly. */
async function expectPrefixConsistent(books: Book[]): Promise<bigint> {
  const cp = await checkpointOf(db.pool, CHAIN);
  const rows = cp === 0n ? [] : await readChainRows(nats.nc, CHAIN, cp);
  expect(diffTables(recompute(CHAIN, rows, books), await dumpTables(db.pool, CHAIN))).toEqual([]);
  return cp;
}

describe('projector killed with SIGKILL', () => {
  it('loses nothing and counts nothing twice across crashes mid-batch', async () => {
    const books: Book[] = [];
    await addBook(db.pool, (SEED_START_MS / H) * H, { '*': 2_000_000n, H100: 4_000_000n }, { '*': 500_000n }, books);
    await seedChain(nats.nc, CHAIN, simulateEvents(N, { seed: 11 }), { sealedAtMs: (i) => SEED_START_MS + BigInt(i) * 5_000n });

    // 1. The process kills itself inside its 3rd batch transaction, after all writes, before COMMIT.
    const p1 = projector(['--once'], { HWL_FAULT_CRASH_IN_BATCH: '3' });
    expect((await exited(p1)).signal).toBe('SIGKILL');
    const cp1 = await expectPrefixConsistent(books);
    expect(cp1).toBe(1000n); // batches 1 and 2 committed, batch 3 rolled back entirely

    // 2. External kill -9 at arbitrary moments of a following projector, three times.
    let last = cp1;
    for (let round = 0; round < 3; round++) {
      const p = projector();
      await waitFor(async () => (await checkpointOf(db.pool, CHAIN)) >= last + 2_000n, 60_000, 20, 'progress');
      await new Promise((r) => setTimeout(r, 37 * (round + 1))); // land somewhere inside a batch
      p.kill('SIGKILL');
      expect((await exited(p)).signal).toBe('SIGKILL');
      const cp = await expectPrefixConsistent(books);
      expect(cp).toBeGreaterThan(last);
      last = cp;
    }
    expect(last).toBeLessThan(BigInt(N));

    // 3. A last restart catches up; the whole chain is projected exactly once.
    const p3 = projector(['--once']);
    const r3 = await exited(p3);
    expect(r3.code).toBe(0);
    expect(await checkpointOf(db.pool, CHAIN)).toBe(BigInt(N));
    expect(await expectPrefixConsistent(books)).toBe(BigInt(N));
  });
});
