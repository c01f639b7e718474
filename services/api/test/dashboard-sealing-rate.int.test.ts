/**
 * The dashboard's sealing rate (GET /dashboard/api/chains) once `hwledger
 * archive --db` has deleted the records below its cut: the rate must come
 * from the oldest record still there within the last 1000, not from a
 * missing row read as sequence 0 at time 0 (which showed ~0 records/s).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '@hwledger/testkit';
import { migrate } from '@hwledger/projector';
import { generateKey } from '../src/api-keys.js';
import { dashboardHandlers } from '../src/dashboard/index.js';

const NOW = Date.UTC(2026, 10, 22, 12, 30, 0);
const operator = generateKey({ role: 'operator', id: 'op' });
const db = useTestDatabase({ prefix: 'hwl_dashrate', max: 3, setup: (pool) => migrate(pool) });
let server: Server;
let base = '';

beforeAll(async () => {
  const h = Buffer.alloc(32, 1);
  const insert = async (seq: number, sealed: number): Promise<void> => {
    await db.pool.query(
      'INSERT INTO records (chain_id, sequence, prev_hash, hash, canonical, kind, tenant, instance_id, source, event_id, observed_at_ms, sealed_at_ms, job_id, request_id, device_id, data) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)',
      ['eu-west-1', seq, h, h, Buffer.from([1]), 'metrics_collected', '', 'i', 'eu-west-1/n1', `e${seq}`, sealed, sealed, null, null, null, '{}'],
    );
  };
  // Archived up to 4999 (rows deleted): records 5000..5500 remain, one per second.
  await insert(5000, NOW - 500_000);
  await insert(5500, NOW);
  await db.pool.query(`INSERT INTO chain_status (chain_id, head_sequence, verified_sequence, verified_hash, status) VALUES ('eu-west-1', 5500, 5500, $1, 'ok')`, [h]);
  const handlers = dashboardHandlers({ pool: db.pool, keys: [operator.entry], now: () => NOW });
  server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      for (const x of handlers) if (await x(req, res, url)) return;
      res.writeHead(404).end();
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  if (server) await new Promise((r) => server.close(r));
});

describe('dashboard sealing rate after archive deleted old records', () => {
  it('uses the oldest remaining record within the last 1000', async () => {
    const res = await fetch(`${base}/dashboard/api/chains`, { headers: { authorization: `Bearer ${operator.key}` } });
    expect(res.status).toBe(200);
    const { chains } = (await res.json()) as { chains: { chainId: string; sealingRatePerSec: number }[] };
    expect(chains[0]!.sealingRatePerSec).toBeCloseTo(1, 6); // 500 records in 500 s
  });
});
