/**
 * Range bounds the argument checks accept must be answered, never turned into
 * a database error: msArg admits every value up to 2^63-1 (i64, the type of
 * the window columns), and an open-ended "until the end of time" range is
 * exactly what a caller passes as that maximum.
 */
import { describe, expect, it } from 'vitest';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { auditTrail, dispatchHistory, migrate, Projector, tenantSummary } from '@hwledger/projector';
import type { ChainEvent } from '@hwledger/chain';
import { seedChain, SEED_START_MS } from './helpers/seed-chain.js';

const nats = useNatsServer();
const db = useTestDatabase({ setup: (pool) => migrate(pool) });
const I64_MAX = 2n ** 63n - 1n;

describe('query bounds', () => {
  it('answers a range ending at 2^63-1 (the largest to_ms accepted)', async () => {
    const chain = 'bounds';
    const req = (i: number): ChainEvent => ({
      source: 'sim',
      eventId: `ev-${i}`,
      observedAtMs: SEED_START_MS,
      tenant: 'acme',
      instanceId: `req-${i}`,
      kind: 'inference_request_completed',
      data: { tenant_id: 'acme', request_id: `req-${i}`, total_tokens: 10, compute_ms: 5n, reason: 'end_of_sequence' },
    });
    await seedChain(nats.nc, chain, [req(0), req(1), req(2)]);
    await new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true }).start().done;
    for (const toMs of [I64_MAX, I64_MAX - 1n, I64_MAX.toString()]) {
      const s = await tenantSummary(db.pool, { chainId: chain, tenant: 'acme', fromMs: 0, toMs });
      expect(s.requests).toMatchObject({ count: 3n, tokens: 30n, computeMs: 15n });
      expect(s.fromMs).toBe(0n);
      expect(s.toMs % 3_600_000n).toBe(0n); // widened to whole hours, as documented
      expect(s.toMs).toBeGreaterThanOrEqual(BigInt(toMs));
    }
  });

  it('answers a tampered page cursor whose sequence is beyond i64 with INVALID_ARGUMENT, not a database error', async () => {
    const cursor = (parts: string[]): string => Buffer.from(JSON.stringify(parts), 'utf8').toString('base64url');
    const huge = '9999999999999999999'; // 19 digits, above 2^63-1
    await expect(dispatchHistory(db.pool, { chainId: 'bounds', deviceId: 'gpu-1', page: { cursor: cursor([huge]) } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(auditTrail(db.pool, { key: 'req-1', page: { cursor: cursor(['bounds', huge]) } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
