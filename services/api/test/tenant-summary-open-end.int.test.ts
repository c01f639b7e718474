/**
 * GetTenantSummary with no upper bound (to_ms 0, the CLI default) stopped at
 * MAX_TIME_MS (the last whole UTC day below 2^63 ms): the projector
 * stores records sealed up to 2^63-1 (docs: only above it is out_of_range),
 * but the rollup windows of the last partial day start at or after
 * MAX_TIME_MS and parseRange refuses any to_ms above it, so no API request
 * could ever sum them: that usage was silently missing from "all time"
 * (found by a review helper). An open range now ends at 2^63 - 1.
 */
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import type { ChainEvent } from '@hwledger/chain';
import { silentLogger } from '@hwledger/core';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { migrate, Projector, tenantSummary } from '@hwledger/projector';
import { LedgerQuery } from '@hwledger/api';
import { publishChain } from './helpers/publish-chain.js';

const CHAIN = 'lastday';
const I64_MAX = (1n << 63n) - 1n;
const nats = useNatsServer();
const fx = useTestDatabase({ setup: (pool) => migrate(pool) });

describe('tenant summary without an upper bound', () => {
  it('includes usage sealed in the last representable day', async () => {
    const ev: ChainEvent = {
      source: 'lastday/node-1',
      eventId: 'e-1',
      observedAtMs: 1n,
      tenant: 'acme',
      instanceId: 'i',
      kind: 'inference_request_completed',
      data: { tenant_id: 'acme', request_id: 'r-1', total_tokens: 7, compute_ms: 5n, reason: 'end_of_sequence' },
    } as ChainEvent;
    await publishChain(nats.nc, CHAIN, [ev], () => I64_MAX - 1_000n);
    const p = new Projector({ pool: fx.pool, nc: nats.nc, chainId: CHAIN, exitAtHead: true, logger: silentLogger(), registry: new Registry() }).start();
    await p.done;
    expect(p.state).toBe('caught_up');
    // The projector stored it and its own query finds it.
    const direct = await tenantSummary(fx.pool, { chainId: CHAIN, tenant: 'acme', fromMs: 0n, toMs: I64_MAX });
    expect(direct.requests.count).toBe(1n);
    const q = new LedgerQuery({ pool: fx.pool, chainId: CHAIN, logger: silentLogger() });
    const s = await q.getTenantSummary({ keyId: 'ops', role: 'operator' }, { tenant: 'acme', chainId: CHAIN, fromMs: 0n, toMs: 0n });
    expect(s.requests).toBe(1n);
    expect(s.requestTokens).toBe(7n);
  });
});
