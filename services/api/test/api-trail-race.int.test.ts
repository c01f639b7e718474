/**
 * The tenant access rule of GetAuditTrail is checked on the key's owners,
 * then the trail is read: records of another tenant projected in between
 * (a tenant polling a predictable job id of another tenant until it is
 * dispatched) must not be served. The race is made deterministic here: the
 * other tenant's record is sealed and projected just before the trail query
 * runs, after the ownership check.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ChainEvent } from '@hwledger/chain';
import { HwlError, silentLogger } from '@hwledger/core';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { migrate } from '@hwledger/projector';
import { LedgerQuery, type Caller } from '@hwledger/api';
import { lateRecordRace, type LateRecordRace } from './helpers/late-record-race.js';

const CHAIN = 'api-race';
const T0 = 1_794_960_000_000n;

const nats = useNatsServer();
const fx = useTestDatabase({ setup: (pool) => migrate(pool) });

function ev(i: number, tenant: string, data: ChainEvent): ChainEvent {
  return { ...data, source: 'test/node-1', eventId: `e-${i}`, observedAtMs: T0 + BigInt(i), tenant };
}

const first: ChainEvent[] = [
  ev(1, '47', {
    kind: 'inference_request_completed',
    instanceId: 'req-1',
    data: { tenant_id: '47', request_id: 'req-1', total_tokens: 1, compute_ms: 1n, reason: 'end_of_sequence' },
  } as ChainEvent),
];
// Tenant 52's job, sealed while tenant 47's request is between its ownership check and its trail query.
const late: ChainEvent = ev(2, '52', {
  kind: 'job_dispatched',
  instanceId: 'job-k',
  data: { job_id: 'job-k', device_id: 'gpu-9', model_id: 'secret-model', vram_requested_mib: 1n, predicted_cost_micro_usd: 1n },
} as ChainEvent);

let race: LateRecordRace;

beforeAll(async () => {
  // Once armed, tenant 52's record is sealed and projected just before the audit trail query.
  race = await lateRecordRace({ nc: nats.nc, pool: fx.pool, chainId: CHAIN, t0: T0, first, late, marker: 'LEFT JOIN chain_status' });
});

describe('GetAuditTrail under a concurrent append', () => {
  it('never serves another tenant records that arrived after the ownership check', async () => {
    const api = new LedgerQuery({ pool: race.pool, chainId: CHAIN, logger: silentLogger() });
    const t47: Caller = { keyId: 't47', role: 'tenant', tenant: '47' };
    race.arm();
    let code = 'OK';
    let tenants: string[] = [];
    try {
      const r = await api.getAuditTrail(t47, { key: 'job-k', chainId: '', pageSize: 0, pageToken: '' });
      tenants = r.records.map((x) => x.tenant);
    } catch (e) {
      code = e instanceof HwlError ? e.code : String(e);
    }
    expect(race.armed).toBe(false); // the race happened
    expect(tenants).toEqual([]);
    expect(code).toBe('PERMISSION_DENIED');
    // The operator sees the record; the tenant is refused on the next call as before.
    const op = await api.getAuditTrail({ keyId: 'ops', role: 'operator' }, { key: 'job-k', chainId: '', pageSize: 0, pageToken: '' });
    expect(op.records.map((x) => x.tenant)).toEqual(['52']);
  });
});
