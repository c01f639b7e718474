/**
 * The query API over a real gRPC client (grpc-js + the generated
 * LedgerQueryClient) and over HTTP (fetch), against read models the real
 * projector and reconciler built from a crafted chain in a real Postgres:
 * every operation, pagination, the access rules (operator, own tenant,
 * other tenant, no key, unknown key), INVALID_ARGUMENT / 400 for bad input,
 * a broken chain in chain status, and VerifyRange / the audit trail catching
 * a records row altered after projection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex, type Sealed } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';
import { createApiClient, generateKey, type ApiClient } from '@hwledger/api';
import { BROKEN, CHAIN, startFixture, type Fixture } from './helpers/fixture.js';
import { HOUR, PAGED_JOBS, T0 } from './helpers/scenario.js';

type Who = 'operator' | 't47' | 't52' | 'none' | 'unknown';

let fx: Fixture;
let sealed: Sealed[];
const clients: Record<'http' | 'grpc', Record<Who, ApiClient>> = { http: {} as Record<Who, ApiClient>, grpc: {} as Record<Who, ApiClient> };

/** The HwlError code a call fails with (or 'OK'). */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    if (e instanceof HwlError) return e.code;
    throw e;
  }
}

beforeAll(async () => {
  fx = await startFixture();
  sealed = fx.sealed;
  const urls = { http: fx.api!.http!.url, grpc: `grpc://${fx.api!.grpc!.address}` };
  for (const t of ['http', 'grpc'] as const) {
    clients[t] = {
      operator: createApiClient(urls[t], fx.keys.operator.key),
      t47: createApiClient(urls[t], fx.keys.t47.key),
      t52: createApiClient(urls[t], fx.keys.t52.key),
      none: createApiClient(urls[t], undefined),
      unknown: createApiClient(urls[t], generateKey({ role: 'operator' }).key),
    };
  }
});

afterAll(async () => {
  for (const t of Object.values(clients)) for (const c of Object.values(t)) c.close();
  await fx?.close();
});

describe.each(['http', 'grpc'] as const)('over %s', (transport) => {
  const c = (who: Who): ApiClient => clients[transport][who];

  it('answers health and readiness without a key', async () => {
    expect((await c('none').health()).status).toBe('ok');
    const r = await c('none').ready();
    expect(r.ready).toBe(true);
    expect(r.checks.join('\n')).toMatch(/postgres: ok/);
    expect(r.checks.join('\n')).toMatch(/nats: ok/);
  });

  it('refuses a missing or unknown key (UNAUTHENTICATED)', async () => {
    expect(await codeOf(c('none').getChainStatus({}))).toBe('UNAUTHENTICATED');
    expect(await codeOf(c('unknown').getChainStatus({}))).toBe('UNAUTHENTICATED');
    expect(await codeOf(c('none').getAuditTrail({ key: 'job-a' }))).toBe('UNAUTHENTICATED');
    expect(await codeOf(c('unknown').getTenantSummary({ tenant: '47' }))).toBe('UNAUTHENTICATED');
  });

  it('reports chain status: the projected head, and a broken chain with its first bad sequence', async () => {
    const ok = await c('t47').getChainStatus({});
    expect(ok.chainId).toBe(CHAIN);
    expect(ok.status).toBe('ok');
    expect(ok.projectedSequence).toBe(BigInt(sealed.length));
    expect(ok.projectedHash).toBe(toHex(sealed[sealed.length - 1]!.hash));
    expect(ok.streamSequence).toBe(BigInt(sealed.length));
    expect(ok.firstBadSequence).toBeUndefined();

    const bad = await c('operator').getChainStatus({ chainId: BROKEN });
    expect(bad.status).toBe('broken');
    expect(bad.firstBadSequence).toBe(3n);
    expect(bad.projectedSequence).toBe(2n);
    expect(bad.reason).not.toBe('');

    const none = await c('operator').getChainStatus({ chainId: 'never-projected' });
    expect(none.status).toBe('unknown');
  });

  it('serves an audit trail whose every record verifies against the chain', async () => {
    const t = await c('operator').getAuditTrail({ key: 'job-a' });
    const expected = sealed.filter((s) => s.record.instanceId === 'job-a');
    expect(t.records.map((r) => r.sequence)).toEqual(expected.map((s) => s.record.sequence));
    expect(t.verifiedSequence).toBe(BigInt(sealed.length));
    for (const [i, r] of t.records.entries()) {
      const s = expected[i]!;
      expect(r.hash).toBe(toHex(s.hash));
      expect(r.prevHash).toBe(toHex(s.prevHash));
      expect(r.canonical).toBe(toHex(s.canonical));
      expect(r.kind).toBe(s.record.kind);
      expect(r.tenant).toBe('47');
      expect(r.decoded?.['kind']).toBe(s.record.kind);
      expect(r.decoded?.['sequence']).toBe(s.record.sequence.toString());
      expect((r.decoded?.['data'] as Record<string, unknown>)['job_id']).toBe('job-a');
      expect(r.verification).toEqual({ recomputedHash: toHex(s.hash), hashOk: true, withinVerifiedPrefix: true, linkOk: true, decodes: true, verified: true });
    }
    // A request id is a key too.
    const req = await c('t52').getAuditTrail({ key: 'req-3' });
    expect(req.records).toHaveLength(1);
    expect(req.records[0]?.kind).toBe('inference_request_completed');
    expect(await codeOf(c('operator').getAuditTrail({ key: 'no-such-key' }))).toBe('NOT_FOUND');
  });

  it('pages an audit trail with opaque tokens bound to their query', async () => {
    const seqs: bigint[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const p = await c('operator').getAuditTrail({ key: 'gpu-3', pageSize: 10, pageToken });
      expect(p.records.length).toBeLessThanOrEqual(10);
      seqs.push(...p.records.map((r) => r.sequence));
      pageToken = p.nextPageToken;
      pages++;
    } while (pageToken !== '');
    expect(pages).toBe(3);
    const expected = sealed.filter((s) => s.record.kind === 'device_registered' ? s.record.data.device_id === 'gpu-3' : s.record.kind === 'job_dispatched' && s.record.data.device_id === 'gpu-3');
    expect(expected).toHaveLength(PAGED_JOBS + 1);
    expect(seqs).toEqual(expected.map((s) => s.record.sequence));
    const first = await c('operator').getAuditTrail({ key: 'gpu-3', pageSize: 10 });
    expect(await codeOf(c('operator').getAuditTrail({ key: 'job-a', pageToken: first.nextPageToken }))).toBe('INVALID_ARGUMENT');
  });

  it('lets a tenant key read its own trails only', async () => {
    expect((await c('t47').getAuditTrail({ key: 'job-a' })).records.length).toBeGreaterThan(0);
    expect(await codeOf(c('t52').getAuditTrail({ key: 'job-a' }))).toBe('PERMISSION_DENIED');
    expect(await codeOf(c('t47').getAuditTrail({ key: 'req-3' }))).toBe('PERMISSION_DENIED');
    // A device's trail holds every tenant's work on it: operator only.
    expect(await codeOf(c('t47').getAuditTrail({ key: 'gpu-1' }))).toBe('PERMISSION_DENIED');
    expect((await c('operator').getAuditTrail({ key: 'gpu-1' })).records.length).toBeGreaterThan(0);
  });

  it('lists tenants, paged, and only its own to a tenant key', async () => {
    expect((await c('operator').listTenants({})).tenants).toEqual(['47', '52']);
    const p1 = await c('operator').listTenants({ pageSize: 1 });
    expect(p1.tenants).toEqual(['47']);
    const p2 = await c('operator').listTenants({ pageSize: 1, pageToken: p1.nextPageToken });
    expect(p2.tenants).toEqual(['52']);
    expect(p2.nextPageToken).toBe('');
    expect((await c('t52').listTenants({})).tenants).toEqual(['52']);
  });

  it('summarizes a tenant over a range: tokens, compute, cost with its price book, reasons', async () => {
    // All time: req-1, req-2, req-late and job-a (H100: 60 s at 2 µUSD/ms + 500 tokens).
    const all = await c('t47').getTenantSummary({ tenant: '47' });
    expect(all.tokens).toBe(100n + 50n + 1n + 500n);
    expect(all.computeMs).toBe(2_000n + 1_000n + 1n + 60_000n);
    expect(all.costMicroUsd).toBe(2_100n + 1_050n + 2n + 120_500n);
    expect(all.priceBookVersions).toEqual([1]);
    expect(all.requests).toBe(3n);
    expect(all.jobsCompleted).toBe(1n);
    expect(all.jobsFailed).toBe(1n);
    expect(all.toMs).toBe(0n);
    // The first hour leaves out req-late (sealed two hours in).
    const hour = await c('operator').getTenantSummary({ tenant: '47', fromMs: T0, toMs: T0 + HOUR });
    expect(hour.fromMs).toBe(T0);
    expect(hour.toMs).toBe(T0 + HOUR);
    expect(hour.tokens).toBe(650n);
    expect(hour.costMicroUsd).toBe(123_650n);
    expect(hour.byReason.map((r) => [r.reason, r.requests])).toEqual([
      ['end_of_sequence', 1n],
      ['max_tokens_reached', 1n],
    ]);
    // A range is widened to whole hours.
    const widened = await c('operator').getTenantSummary({ tenant: '52', fromMs: T0 + 1n, toMs: T0 + 2n });
    expect(widened.fromMs).toBe(T0);
    expect(widened.toMs).toBe(T0 + HOUR);
    expect(widened.costMicroUsd).toBe(770n + 31_000n + 10_010n);
    expect(await codeOf(c('t52').getTenantSummary({ tenant: '47' }))).toBe('PERMISSION_DENIED');
    expect(await codeOf(c('t47').getTenantSummary({ tenant: '_' }))).toBe('PERMISSION_DENIED');
  });

  it('summarizes cost fleet-wide and per device (operator only)', async () => {
    const fleet = await c('operator').getCostSummary({});
    expect(fleet.jobs).toBe(3n);
    expect(fleet.totalCostMicroUsd).toBe(120_500n + 31_000n + 10_010n);
    expect(fleet.averageCostPerJobMicroUsd).toBe(53_837n);
    expect(fleet.reportedCostMicroUsd).toBe(1_050_000n + 3_000_000n + 10_000n);
    expect(fleet.priceBookVersions).toEqual([1]);
    const gpu1 = await c('operator').getCostSummary({ deviceId: 'gpu-1' });
    expect(gpu1.jobs).toBe(1n);
    expect(gpu1.totalCostMicroUsd).toBe(120_500n);
    expect(gpu1.averageCostPerJobMicroUsd).toBe(120_500n);
    const later = await c('operator').getCostSummary({ fromMs: T0 + HOUR });
    expect(later.jobs).toBe(0n);
    expect(later.averageCostPerJobMicroUsd).toBe(0n);
    expect(await codeOf(c('t47').getCostSummary({}))).toBe('PERMISSION_DENIED');
    expect(await codeOf(c('t47').getCostSummary({ deviceId: 'gpu-1' }))).toBe('PERMISSION_DENIED');
  });

  it('pages a device dispatch history newest first (operator only)', async () => {
    const ids: string[] = [];
    let pageToken = '';
    do {
      const p = await c('operator').getDispatchHistory({ deviceId: 'gpu-3', pageSize: 10, pageToken });
      ids.push(...p.dispatches.map((d) => d.jobId));
      pageToken = p.nextPageToken;
    } while (pageToken !== '');
    expect(ids).toEqual(Array.from({ length: PAGED_JOBS }, (_, i) => `job-p-${String(PAGED_JOBS - 1 - i).padStart(2, '0')}`));
    const gpu1 = await c('operator').getDispatchHistory({ deviceId: 'gpu-1' });
    expect(gpu1.dispatches.map((d) => [d.jobId, d.status, d.ratedCostMicroUsd])).toEqual([
      ['job-c', 'dispatched', 0n],
      ['job-a', 'completed', 120_500n],
    ]);
    expect(await codeOf(c('t47').getDispatchHistory({ deviceId: 'gpu-3' }))).toBe('PERMISSION_DENIED');
  });

  it('reports reconciliation per job and the fleet list of flagged jobs', async () => {
    const b = (await c('t52').getReconciliation({ jobId: 'job-b' })).report!;
    expect(b.flags.map((f) => f.flag).sort()).toEqual(['cost_variance', 'telemetry_over_request', 'vram_variance']);
    expect(b.vramVariancePct).toBe(50);
    expect(b.costVariancePct).toBe(50);
    expect(b.predictedVramMib).toBe(20_000n);
    expect(b.actualVramMib).toBe(30_000n);
    expect(b.telemetryMaxVramMib).toBe(25_000n);
    expect(b.deviceType).toBe('A100');
    expect(b.tenant).toBe('52');
    const a = (await c('operator').getReconciliation({ jobId: 'job-a' })).report!;
    expect(a.flags).toEqual([]);
    expect(a.ratedCostMicroUsd).toBe(120_500n);
    expect(a.priceBookVersion).toBe(1);
    const orphan = (await c('operator').getReconciliation({ jobId: 'job-orphan' })).report!;
    expect(orphan.predictedVramMib).toBeUndefined();
    expect(orphan.flags.map((f) => f.flag)).toEqual(['orphan_completion']);
    expect(await codeOf(c('t47').getReconciliation({ jobId: 'job-b' }))).toBe('PERMISSION_DENIED');
    expect(await codeOf(c('operator').getReconciliation({ jobId: 'job-none' }))).toBe('NOT_FOUND');

    const flagged: string[] = [];
    let pageToken = '';
    do {
      const p = await c('operator').listFlaggedJobs({ pageSize: 10, pageToken });
      flagged.push(...p.jobs.map((j) => j.jobId));
      pageToken = p.nextPageToken;
    } while (pageToken !== '');
    const paged = Array.from({ length: PAGED_JOBS }, (_, i) => `job-p-${String(i).padStart(2, '0')}`);
    expect(flagged).toEqual(['job-b', 'job-c', 'job-d', 'job-orphan', ...paged]);
    expect((await c('operator').listFlaggedJobs({ flag: 'orphan_failure' })).jobs.map((j) => j.jobId)).toEqual(['job-d']);
    expect(await codeOf(c('t47').listFlaggedJobs({}))).toBe('PERMISSION_DENIED');

    const fleet = await c('operator').getFleetReconciliation({});
    const a100 = fleet.rows.find((r) => r.deviceType === 'A100' && r.modelId === 'm70b');
    expect(a100).toMatchObject({ jobs: 1n, pairedJobs: 1n, predictedVramMib: 20_000n, actualVramMib: 30_000n, flaggedJobs: 1n });
    expect(await codeOf(c('t52').getFleetReconciliation({}))).toBe('PERMISSION_DENIED');
  });

  it('verifies a range of stored records from their canonical bytes', async () => {
    const all = await c('t47').verifyRange({});
    expect(all).toMatchObject({ ok: true, from: 1n, to: BigInt(sealed.length), verified: BigInt(sealed.length), reason: '' });
    expect(all.headHash).toBe(toHex(sealed[sealed.length - 1]!.hash));
    const mid = await c('operator').verifyRange({ chainId: CHAIN, from: 5n, to: 10n });
    expect(mid).toMatchObject({ ok: true, verified: 6n, anchorHash: toHex(sealed[3]!.hash) });
    expect(await codeOf(c('operator').verifyRange({ from: 10n, to: 5n }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(c('operator').verifyRange({ to: BigInt(sealed.length) + 1n }))).toBe('INVALID_ARGUMENT');
  });

  it('answers bad ids, ranges and pages with INVALID_ARGUMENT', async () => {
    const op = c('operator');
    const cases: [string, () => Promise<unknown>][] = [
      ['page_size > 1000', () => op.getAuditTrail({ key: 'job-a', pageSize: 1001 })],
      ['garbage page token', () => op.getAuditTrail({ key: 'job-a', pageToken: 'not-a-token!' })],
      ['well-formed foreign token', () => op.getDispatchHistory({ deviceId: 'gpu-3', pageToken: Buffer.from('{"v":1,"s":"x","k":["1"]}').toString('base64url') })],
      ['empty key', () => op.getAuditTrail({ key: '' })],
      ['key with NUL', () => op.getAuditTrail({ key: 'job\u0000a' })],
      ['key over 256 bytes', () => op.getAuditTrail({ key: 'k'.repeat(257) })],
      ['bad chain id', () => op.getAuditTrail({ key: 'job-a', chainId: 'bad chain' })],
      ['bad tenant', () => op.getTenantSummary({ tenant: 'no such/tenant' })],
      ['to before from', () => op.getTenantSummary({ tenant: '47', fromMs: 10n, toMs: 5n })],
      ['range past i64', () => op.getCostSummary({ toMs: 1n << 63n })],
      ['from at u64 max', () => op.getTenantSummary({ tenant: '47', fromMs: (1n << 64n) - 1n })],
      ['unknown flag', () => op.listFlaggedJobs({ flag: 'nonsense' })],
      ['empty device id', () => op.getDispatchHistory({ deviceId: '' })],
      ['sequence past i64', () => op.verifyRange({ from: 1n << 63n })],
    ];
    for (const [what, call] of cases) expect([what, await codeOf(call())]).toEqual([what, 'INVALID_ARGUMENT']);
  });
});

describe('a records row altered after projection', () => {
  it('fails VerifyRange at that sequence and shows in the audit trail; a deleted row is a gap', async () => {
    const target = sealed.find((s) => s.record.kind === 'job_completed' && s.record.instanceId === 'job-a')!;
    const seq = target.record.sequence;
    const altered = Uint8Array.from(target.canonical);
    // Change the last byte (cost_micro_usd) as someone rewriting a bill would.
    altered[altered.length - 1] = (altered[altered.length - 1] ?? 0) ^ 0x01;
    await fx.pool.query('UPDATE records SET canonical = $3 WHERE chain_id = $1 AND sequence = $2', [CHAIN, seq.toString(), Buffer.from(altered)]);
    try {
      for (const t of ['http', 'grpc'] as const) {
        const v = await clients[t].operator.verifyRange({});
        expect(v).toMatchObject({ ok: false, firstBadSequence: seq, reason: 'hash_mismatch', verified: seq - 1n });
        const trail = await clients[t].t47.getAuditTrail({ key: 'job-a' });
        const rec = trail.records.find((r) => r.sequence === seq)!;
        expect(rec.verification).toMatchObject({ hashOk: false, verified: false });
        expect(trail.records.filter((r) => r.sequence !== seq).every((r) => r.verification?.verified)).toBe(true);
      }
    } finally {
      await fx.pool.query('UPDATE records SET canonical = $3 WHERE chain_id = $1 AND sequence = $2', [CHAIN, seq.toString(), Buffer.from(target.canonical)]);
    }
    expect((await clients.grpc.operator.verifyRange({})).ok).toBe(true);

    // Deleting a row (hiding a dispatch) is a gap; its neighbours' links no longer check out.
    const victim = sealed.find((s) => s.record.instanceId === 'job-b' && s.record.kind === 'job_dispatched')!;
    const row = await fx.pool.query('SELECT * FROM records WHERE chain_id = $1 AND sequence = $2', [CHAIN, victim.record.sequence.toString()]);
    await fx.pool.query('DELETE FROM records WHERE chain_id = $1 AND sequence = $2', [CHAIN, victim.record.sequence.toString()]);
    try {
      const v = await clients.http.operator.verifyRange({});
      expect(v).toMatchObject({ ok: false, firstBadSequence: victim.record.sequence, reason: 'gap' });
      const trail = await clients.http.operator.getAuditTrail({ key: 'gpu-2' });
      const next = trail.records.find((r) => r.sequence === victim.record.sequence + 1n)!;
      expect(next.verification).toMatchObject({ hashOk: true, linkOk: false, verified: false });
    } finally {
      const cols = Object.keys(row.rows[0] as object);
      await fx.pool.query(`INSERT INTO records (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, cols.map((k) => (row.rows[0] as Record<string, unknown>)[k]));
    }
    expect((await clients.http.operator.verifyRange({})).ok).toBe(true);
  });
});

describe('after hwledger archive --db deleted the records up to its cut', () => {
  it('VerifyRange starts from the cut (archived_prefixes), and a range into the archived records names the archive', async () => {
    // What archive --db leaves (ledger-ops archive.ts deleteRows; archive.int.test.ts runs it for
    // real): the cut's sequence and verified head hash kept, the rows up to it deleted.
    const cut = 6n;
    const kept = await fx.pool.query('SELECT * FROM records WHERE chain_id = $1 AND sequence <= $2 ORDER BY sequence', [CHAIN, cut.toString()]);
    const cutHash = sealed.find((s) => s.record.sequence === cut)!.hash;
    await fx.pool.query('INSERT INTO archived_prefixes (chain_id, sequence, hash) VALUES ($1, $2, $3)', [CHAIN, cut.toString(), Buffer.from(cutHash)]);
    await fx.pool.query('DELETE FROM records WHERE chain_id = $1 AND sequence <= $2', [CHAIN, cut.toString()]);
    try {
      for (const t of ['http', 'grpc'] as const) {
        // Before, the default range answered gap at record 1.
        const v = await clients[t].operator.verifyRange({});
        expect(v).toMatchObject({ ok: true, from: cut + 1n, to: BigInt(sealed.length), verified: BigInt(sealed.length) - cut, anchorHash: toHex(cutHash) });
        expect(await codeOf(clients[t].operator.verifyRange({ from: 3n, to: 10n }))).toBe('FAILED_PRECONDITION');
      }
      const err = await clients.http.operator.verifyRange({ from: 1n }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/records 1\.\.6 of chain .* were archived .* hwledger verify --archive; the stored records start at 7/);
      // The anchor is checked like any other: a wrong cut hash breaks the first stored record's link.
      await fx.pool.query('UPDATE archived_prefixes SET hash = $2 WHERE chain_id = $1', [CHAIN, Buffer.alloc(32, 7)]);
      expect(await clients.http.operator.verifyRange({})).toMatchObject({ ok: false, firstBadSequence: cut + 1n, reason: 'broken_link' });
    } finally {
      await fx.pool.query('DELETE FROM archived_prefixes WHERE chain_id = $1', [CHAIN]);
      for (const row of kept.rows as Record<string, unknown>[]) {
        const cols = Object.keys(row);
        await fx.pool.query(`INSERT INTO records (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, cols.map((k) => row[k]));
      }
    }
    expect((await clients.http.operator.verifyRange({})).ok).toBe(true);
  });
});
