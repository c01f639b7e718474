/**
 * The tenant access rule of GetAuditTrail is checked on the key's owners,
 * then the trail is read: records of another tenant projected in between
 * (a tenant polling a predictable job id of another tenant until it is
 * dispatched) must not be served. The race is made deterministic here: the
 * other tenant's record is sealed and projected just before the trail query
 * runs, after the ownership check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { Registry } from 'prom-client';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { sealEvent, toHex, type ChainEvent, type Sealed } from '@hwledger/chain';
import { HEADERS, HwlError, recordMsgId, silentLogger, subjects } from '@hwledger/core';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { migrate, Projector } from '@hwledger/projector';
import { LedgerQuery, type Caller } from '@hwledger/api';
import { publishChain } from './helpers/publish-chain.js';

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

async function project(pool: pg.Pool): Promise<void> {
  await new Projector({ pool, nc: nats.nc, chainId: CHAIN, exitAtHead: true, logger: silentLogger(), registry: new Registry() }).start().done;
}

let armed = false;
let racing: pg.Pool;
let sealed: Sealed[] = [];

/** Seals `late` as record 2 after the first record and appends it, as the sequencer does. */
async function appendLate(): Promise<void> {
  const prev = sealed[0]!;
  const s = sealEvent(late, { chainId: CHAIN, sequence: 2n, sealedAtMs: T0 + 1_000n }, prev.hash);
  const h = natsHeaders();
  h.set(HEADERS.prevHash, toHex(s.prevHash));
  h.set(HEADERS.hash, toHex(s.hash));
  h.set(HEADERS.msgId, recordMsgId(s.record.source, s.record.eventId));
  h.set('Nats-Expected-Last-Sequence', '1');
  await jetstream(nats.nc).publish(subjects.chain(CHAIN, s.record.kind, s.record.tenant), s.canonical, { headers: h });
}

beforeAll(async () => {
  sealed = await publishChain(nats.nc, CHAIN, first, (i) => T0 + BigInt(i) * 1_000n);
  await project(fx.pool);
  // A pool that, once armed, seals and projects tenant 52's record just before the audit trail query.
  racing = new Proxy(fx.pool, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
      return async (text: unknown, values?: unknown[]) => {
        if (armed && typeof text === 'string' && text.includes('LEFT JOIN chain_status')) {
          armed = false;
          await appendLate();
          await project(target);
        }
        return target.query(text as string, values);
      };
    },
  });
});

afterAll(() => {
  armed = false;
});

describe('GetAuditTrail under a concurrent append', () => {
  it('never serves another tenant records that arrived after the ownership check', async () => {
    const api = new LedgerQuery({ pool: racing, chainId: CHAIN, logger: silentLogger() });
    const t47: Caller = { keyId: 't47', role: 'tenant', tenant: '47' };
    armed = true;
    let code = 'OK';
    let tenants: string[] = [];
    try {
      const r = await api.getAuditTrail(t47, { key: 'job-k', chainId: '', pageSize: 0, pageToken: '' });
      tenants = r.records.map((x) => x.tenant);
    } catch (e) {
      code = e instanceof HwlError ? e.code : String(e);
    }
    expect(armed).toBe(false); // the race happened
    expect(tenants).toEqual([]);
    expect(code).toBe('PERMISSION_DENIED');
    // The operator sees the record; the tenant is refused on the next call as before.
    const op = await api.getAuditTrail({ keyId: 'ops', role: 'operator' }, { key: 'job-k', chainId: '', pageSize: 0, pageToken: '' });
    expect(op.records.map((x) => x.tenant)).toEqual(['52']);
  });
});
