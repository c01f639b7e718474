/**
 * GetReconciliation checks the job's tenants, then reads the job's facts:
 * another tenant's completion of the same job id projected in between (its
 * actual VRAM and cost) must not be served. The race is made deterministic
 * here: the other tenant's completion is sealed and projected just before
 * the job facts query runs, after the tenant check.
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
  // A pool that, once armed, seals and projects tenant 52's completion just before the job facts query.
  racing = new Proxy(fx.pool, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
      return async (text: unknown, values?: unknown[]) => {
        if (armed && typeof text === 'string' && text.includes('j.vram_requested_mib, j.predicted_cost_micro_usd')) {
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

describe('GetReconciliation under a concurrent append', () => {
  it("never serves a tenant another tenant's completion that arrived after the tenant check", async () => {
    const api = new LedgerQuery({ pool: racing, chainId: CHAIN, logger: silentLogger() });
    const t47: Caller = { keyId: 't47', role: 'tenant', tenant: '47' };
    // Before the race the job is tenant 47's alone, and its report is served.
    const before = await api.getReconciliation(t47, { chainId: '', jobId: 'job-k' });
    expect(before.report?.actualVramMib).toBeUndefined();
    armed = true;
    let code = 'OK';
    let served: unknown;
    try {
      served = (await api.getReconciliation(t47, { chainId: '', jobId: 'job-k' })).report;
    } catch (e) {
      code = e instanceof HwlError ? e.code : String(e);
    }
    expect(armed).toBe(false); // the race happened
    expect(served).toBeUndefined();
    expect(code).toBe('PERMISSION_DENIED');
    // The operator sees tenant 52's completion in the report.
    const op = await api.getReconciliation({ keyId: 'ops', role: 'operator' }, { chainId: '', jobId: 'job-k' });
    expect(op.report?.actualVramMib).toBe(31_337n);
  });
});
