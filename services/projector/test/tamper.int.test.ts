/**
 * A chain with a tampered record: the projector stops at that sequence,
 * chain_status says so (sequence and reason), the metric and the health
 * endpoint report it, and the read models hold exactly the records before it
 * (nothing past it is aggregated), also after a restart and a rebuild.
 */
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { decodeRecord, encodeRecord, type ChainRecord } from '@hwledger/chain';
import { runCli, useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { chainStatus, freePortForTest, migrate, Projector, rebuildChain, startHealthServer } from './helpers/projector-exports.js';
import { seedChain } from './helpers/seed-chain.js';
import { simulateEvents } from './helpers/fleet.js';
import { diffTables, dumpTables, readChainRows, recompute } from './helpers/recompute.js';

const nats = useNatsServer();
const db = useTestDatabase({ setup: (pool) => migrate(pool) });

const BAD = 301;

function alterCost(canonical: Uint8Array): Uint8Array {
  const r = decodeRecord(canonical) as ChainRecord;
  const forged = { ...r, observedAtMs: r.observedAtMs + 1n } as ChainRecord; // any change to the body
  return encodeRecord(forged);
}

const cases = [
  { name: 'wrong prev hash (broken link)', reason: 'broken_link', tamper: () => ({ prevHashHex: 'ab'.repeat(32) }) },
  {
    name: 'rewritten body with the original hashes',
    reason: 'hash_mismatch',
    tamper: (s: { canonical: Uint8Array }) => ({ canonical: alterCost(s.canonical) }),
  },
  { name: 'hash headers stripped', reason: 'missing_hash_header', tamper: () => ({ prevHashHex: null, hashHex: null }) },
  {
    name: 'published on a subject of another tenant',
    reason: 'subject_mismatch',
    tamper: (s: { record: ChainRecord }) => ({ subject: `hwl.chain.${s.record.chainId}.${s.record.kind}.mallory` }),
  },
] as const;

describe('projector on a tampered chain', () => {
  for (const [i, c] of cases.entries()) {
    it(`stops at the tampered record: ${c.name}`, async () => {
      const chain = `tamper-${i}`;
      const events = simulateEvents(600, { seed: 100 + i });
      await seedChain(nats.nc, chain, events, { tamper: (s, idx) => (idx === BAD - 1 ? c.tamper(s as never) : undefined) });
      const registry = new Registry();
      const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, batchSize: 128, registry }).start();
      const port = await freePortForTest();
      const server = await startHealthServer(registry, port, p);
      try {
        await expect.poll(() => p.state, { timeout: 30_000 }).toBe('broken');
        expect(p.broken).toMatchObject({ sequence: BigInt(BAD), reason: c.reason });
        const status = await chainStatus(db.pool, chain);
        expect(status).toMatchObject({ status: 'broken', brokenSequence: BigInt(BAD), brokenReason: c.reason, verifiedSequence: BigInt(BAD - 1) });
        const health = await fetch(`http://127.0.0.1:${port}/healthz`);
        expect(health.status).toBe(503);
        expect(await health.json()).toMatchObject({ state: 'broken', broken: { sequence: String(BAD), reason: c.reason } });
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(metrics).toMatch(new RegExp(`hwl_verification_failures_total\\{chain="${chain}",reason="${c.reason}"\\} 1`));
      } finally {
        server.close();
        await p.stop();
      }
      // Exactly records 1..BAD-1 are projected and aggregated.
      const rows = await readChainRows(nats.nc, chain, BigInt(BAD - 1));
      expect(diffTables(recompute(chain, rows), await dumpTables(db.pool, chain))).toEqual([]);
      const past = await db.pool.query('SELECT count(*)::int AS n FROM records WHERE chain_id = $1 AND sequence >= $2', [chain, BAD]);
      expect(past.rows[0].n).toBe(0);

      // A restart, and a rebuild from genesis, stop at the same record again.
      await rebuildChain(db.pool, chain);
      const again = new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, batchSize: 1000, exitAtHead: true }).start();
      await again.done;
      expect(again.state).toBe('broken');
      expect((await chainStatus(db.pool, chain)).brokenSequence).toBe(BigInt(BAD));
      expect(diffTables(recompute(chain, rows), await dumpTables(db.pool, chain))).toEqual([]);
    });
  }

  it('hwledger projector --once exits 1 naming the sequence and reason', async () => {
    const r = await runCli(['projector', '--nats', nats.url, '--chain', 'tamper-0', '--db', db.db.url, '--once'], { env: { HWL_LOG_LEVEL: 'silent' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`at sequence ${BAD} (broken_link)`);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ state: 'broken', broken: { sequence: String(BAD), reason: 'broken_link' } });
  });
});
