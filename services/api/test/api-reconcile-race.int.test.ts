/**
 * GetReconciliation checks the job's tenants, then reads the job's facts:
 * another tenant's completion of the same job id projected in between (its
 * actual VRAM and cost) must not be served. The race is made deterministic
 * here: the other tenant's completion is sealed and projected just before
 * the job facts query runs, after the tenant check.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ChainEvent } from '@hwledger/chain';
import { HwlError, silentLogger } from '@hwledger/core';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { migrate } from '@hwledger/projector';
import { LedgerQuery, type Caller } from '@hwledger/api';
import { lateRecordRace, type LateRecordRace } from './helpers/late-record-race.js';

const CHAIN = 'api-reconcile-race';
const T0 = 1_794_960_000_000n;

const nats = useNatsServer();
const fx = useTestDatabase({ setup: (pool) => migrate(pool) });

function ev(i: number, tenant: string, data: ChainEvent): ChainEvent {
  return { ...data, source: 'test/node-1', eventId: `e-${i}`, observedAtMs: T0 + BigInt(i), tenant };
}

const first: ChainEvent[] = [
  ev(1, '47', {
    kind: 'job_dispatched',
    instanceId: 'job-k',
    data: { job_id: 'job-k', device_id: 'gpu-9', model_id: 'm-1', vram_requested_mib: 1_000n, predicted_cost_micro_usd: 500n },
  } as ChainEvent),
];
// Tenant 52's completion of the same job id, sealed while tenant 47's request is between its tenant check and its report.
const late: ChainEvent = ev(2, '52', {
  kind: 'job_completed',
  instanceId: 'job-k',
  data: { job_id: 'job-k', tokens_generated: 7, duration_ms: 60_000n, actual_vram_mib: 31_337n, cost_micro_usd: 987_654n },
} as ChainEvent);

let race: LateRecordRace;

beforeAll(async () => {
  // Once armed, tenant 52's record is sealed and projected just before the job facts query.
  race = await lateRecordRace({ nc: nats.nc, pool: fx.pool, chainId: CHAIN, t0: T0, first, late, marker: 'j.vram_requested_mib, j.predicted_cost_micro_usd' });
});

describe('GetReconciliation under a concurrent append', () => {
  it("never serves a tenant another tenant's completion that arrived after the tenant check", async () => {
    const api = new LedgerQuery({ pool: race.pool, chainId: CHAIN, logger: silentLogger() });
    const t47: Caller = { keyId: 't47', role: 'tenant', tenant: '47' };
    // Before the race the job is tenant 47's alone, and its report is served.
    const before = await api.getReconciliation(t47, { chainId: '', jobId: 'job-k' });
    expect(before.report?.actualVramMib).toBeUndefined();
    race.arm();
    let code = 'OK';
    let served: unknown;
    try {
      served = (await api.getReconciliation(t47, { chainId: '', jobId: 'job-k' })).report;
    } catch (e) {
      code = e instanceof HwlError ? e.code : String(e);
    }
    expect(race.armed).toBe(false); // the race happened
    expect(served).toBeUndefined();
    expect(code).toBe('PERMISSION_DENIED');
    // The operator sees tenant 52's completion in the report.
    const op = await api.getReconciliation({ keyId: 'ops', role: 'operator' }, { chainId: '', jobId: 'job-k' });
    expect(op.report?.actualVramMib).toBe(31_337n);
  });
});
