/**
 * The sequencer deduplicates (source, event_id) only over its last
 * --recent-ids records (docs/sequencer.md "Duplicate events": "duplicates of
 * events older than the last 100,000 records are sealed again ... consumers
 * that must not double-count deduplicate on (source, event_id)"). The
 * projector is that consumer: a re-sealed inference request is on the chain
 * (records, audit trail) but is billed once.
 */
import { describe, expect, it } from 'vitest';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { genesisHash, sealEvent, toHex, type ChainEvent } from '@hwledger/chain';
import { ensureChainTopology, HEADERS, recordMsgId, subjects } from '@hwledger/core';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { migrate, Projector, tenantSummary } from '@hwledger/projector';
import { SEED_START_MS } from './helpers/seed-chain.js';
import { addBook } from './helpers/books.js';
import { diffTables, dumpTables, readChainRows, recompute, type Book } from './helpers/recompute.js';

const nats = useNatsServer();
const db = useTestDatabase({ setup: (pool) => migrate(pool) });
const books: Book[] = [];

/** Appends events as the sequencer does, Nats-Msg-Id = event key + hash prefix (so a re-sealed event is a new message). */
const tails = new Map<string, { prev: Uint8Array; n: number }>();
async function append(chainId: string, events: ChainEvent[]): Promise<void> {
  await ensureChainTopology(nats.nc, chainId);
  const js = jetstream(nats.nc);
  const tail = tails.get(chainId) ?? { prev: genesisHash(chainId), n: 0 };
  let prev = tail.prev;
  for (let i = tail.n; i < tail.n + events.length; i++) {
    const seq = BigInt(i + 1);
    const s = sealEvent(events[i - tail.n]!, { chainId, sequence: seq, sealedAtMs: SEED_START_MS + BigInt(i) * 1_000n }, prev);
    const h = natsHeaders();
    h.set(HEADERS.prevHash, toHex(s.prevHash));
    h.set(HEADERS.hash, toHex(s.hash));
    h.set(
      HEADERS.msgId,
      `${Buffer.from(recordMsgId(s.record.source, s.record.eventId), 'hex').toString('base64url')}.${Buffer.from(s.hash.subarray(0, 16)).toString('base64url')}`,
    );
    h.set('Nats-Expected-Last-Sequence', (seq - 1n).toString());
    await js.publish(subjects.chain(chainId, s.record.kind, s.record.tenant), s.canonical, { headers: h });
    prev = s.hash;
  }
  tails.set(chainId, { prev, n: tail.n + events.length });
}

const request = (eventId: string, requestId: string): ChainEvent => ({
  source: 'eu/node-1',
  eventId,
  observedAtMs: SEED_START_MS,
  tenant: 'acme',
  instanceId: `inference:request_completed:${requestId}`,
  kind: 'inference_request_completed',
  data: { tenant_id: 'acme', request_id: requestId, total_tokens: 1_000, compute_ms: 3_600_000n, reason: 'end_of_sequence' },
});
const metrics = (eventId: string): ChainEvent => ({
  source: 'eu/node-1',
  eventId,
  observedAtMs: SEED_START_MS,
  tenant: '',
  instanceId: 'gpu-1',
  kind: 'metrics_collected',
  data: { device_id: 'gpu-1', vram_used_mib: 1n, vram_total_mib: 80n, utilization_pct: 1, temperature_mc: 1, power_mw: 1 },
});

describe('a re-sealed (source, event_id)', () => {
  it.each([
    ['one batch', 2000],
    ['across batches', 1],
  ])('is billed once (%s)', async (_name, batchSize) => {
    const chain = `dup-${batchSize}`;
    if (books.length === 0) await addBook(db.pool, 0n, { '*': 1_000_000n }, { '*': 0n }, books);
    // ev-1 is sealed again at sequence 4 (the sequencer's recent-ids horizon had passed); ev-2 is a different request.
    await append(chain, [request('ev-1', 'req-1'), metrics('m-1'), request('ev-2', 'req-2'), request('ev-1', 'req-1'), metrics('m-2')]);
    const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true, batchSize }).start();
    await p.done;
    expect(p.state).toBe('caught_up');

    const records = await db.pool.query('SELECT sequence FROM records WHERE chain_id = $1 ORDER BY sequence', [chain]);
    expect(records.rows.map((r) => Number(r.sequence))).toEqual([1, 2, 3, 4, 5]); // every verified record stays on record
    const reqs = await db.pool.query('SELECT sequence, request_id FROM inference_requests WHERE chain_id = $1 ORDER BY sequence', [chain]);
    expect(reqs.rows.map((r) => [Number(r.sequence), r.request_id])).toEqual([
      [1, 'req-1'],
      [3, 'req-2'],
    ]);
    const s = await tenantSummary(db.pool, { chainId: chain, tenant: 'acme', fromMs: 0, toMs: SEED_START_MS + 86_400_000n });
    expect(s.requests).toMatchObject({ count: 2n, tokens: 2_000n, computeMs: 7_200_000n, costMicroUsd: 2_000_000n });
    expect(s.byReason).toEqual([{ reason: 'end_of_sequence', count: 2n, tokens: 2_000n, computeMs: 7_200_000n }]);
    const daily = await db.pool.query('SELECT request_count::text AS n, request_cost_micro_usd::text AS c FROM tenant_usage_daily WHERE chain_id = $1', [
      chain,
    ]);
    expect(daily.rows).toEqual([{ n: '2', c: '2000000' }]);
    // The independent recomputation from the chain agrees table by table.
    expect(diffTables(recompute(chain, await readChainRows(nats.nc, chain), books), await dumpTables(db.pool, chain))).toEqual([]);
  });

  it('is billed once when its first record was archived (records rows deleted) before it came again', async () => {
    const chain = 'dup-archived';
    if (books.length === 0) await addBook(db.pool, 0n, { '*': 1_000_000n }, { '*': 0n }, books);
    await append(chain, [request('ev-1', 'req-1'), metrics('m-1')]);
    await new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true }).start().done;
    // What hwledger archive does to the read models: the raw records rows go, everything else stays.
    await db.pool.query('DELETE FROM records WHERE chain_id = $1', [chain]);
    await append(chain, [request('ev-1', 'req-1'), request('ev-2', 'req-2')]);
    const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true }).start();
    await p.done;
    expect(p.state).toBe('caught_up');
    const reqs = await db.pool.query('SELECT sequence FROM inference_requests WHERE chain_id = $1 ORDER BY sequence', [chain]);
    expect(reqs.rows.map((r) => Number(r.sequence))).toEqual([1, 4]);
    const keys = await db.pool.query('SELECT event_id, sequence::int AS seq FROM inference_request_events WHERE chain_id = $1 ORDER BY sequence', [chain]);
    expect(keys.rows).toEqual([
      { event_id: 'ev-1', seq: 1 },
      { event_id: 'ev-2', seq: 4 },
    ]);
  });
});
