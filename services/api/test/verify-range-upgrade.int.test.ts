/**
 * VerifyRange on a database archived before migration 006 and then
 * upgraded. `hwledger archive --db` of a 004 schema deleted records 1..cut
 * (archive.ts deleteRows ignores the missing archived_prefixes table).
 * Migration 006 created archived_prefixes empty and backfilled nothing, so
 * after the upgrade the default VerifyRange still answered `gap` at record 1,
 * the answer an auditor cannot tell from deleted rows (the defect 006 was
 * written to fix), even though the stored records 6..10 are intact (found in
 * a review). 006 now backfills the cut from where the stored records begin.
 */
import { describe, expect, it } from 'vitest';
import type { ChainEvent } from '@hwledger/chain';
import { toHex } from '@hwledger/chain';
import { silentLogger } from '@hwledger/core';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { loadMigrations, migrate, Projector, schemaVersion } from '@hwledger/projector';
import { LedgerQuery, type Caller } from '@hwledger/api';
import { seedChain, SEED_START_MS } from '../../projector/test/helpers/seed-chain.js';

const nats = useNatsServer();
const db = useTestDatabase({ prefix: 'hwl_vr_upgrade', setup: (pool) => migrate(pool) });

let n = 0;
const request = (tenant: string): ChainEvent => ({
  source: 'sim',
  eventId: `rq-${n++}`,
  observedAtMs: SEED_START_MS,
  tenant,
  instanceId: 'i',
  kind: 'inference_request_completed',
  data: { tenant_id: tenant, request_id: `req-${n}`, total_tokens: 10, compute_ms: 10n, reason: 'stop' },
});

const OP: Caller = { keyId: 'op', role: 'operator' };

describe('VerifyRange after upgrading a database archived at schema 004', () => {
  it('starts from the archive cut instead of answering gap at 1', async () => {
    const chain = 'vr-upgrade';
    const { sealed } = await seedChain(nats.nc, chain, Array.from({ length: 10 }, () => request('acme')));
    const p = new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true }).start();
    await p.done;
    expect(p.state).toBe('caught_up');

    // The same data under the 004 schema.
    await db.pool.query('ALTER TABLE projector_checkpoints DROP COLUMN sealed_at_ms');
    await db.pool.query('DROP TABLE archived_prefixes');
    await db.pool.query('DELETE FROM hwl_schema_migrations WHERE version > 4');
    expect(await schemaVersion(db.pool)).toBe(4);
    // `hwledger archive --db` at a cut of 5 on that schema: no archived_prefixes, rows 1..5 deleted.
    await db.pool.query('DELETE FROM records WHERE chain_id = $1 AND sequence <= 5', [chain]);

    expect(await migrate(db.pool, loadMigrations())).toEqual([5, 6]);
    const api = new LedgerQuery({ pool: db.pool, chainId: chain, logger: silentLogger() });
    const v = await api.verifyRange(OP, { chainId: chain, from: 0n, to: 0n });
    expect({ ok: v.ok, reason: v.reason, from: v.from, verified: v.verified }).toEqual({ ok: true, reason: '', from: 6n, verified: 5n });
    expect(v.anchorHash).toBe(toHex(sealed[4]!.hash));
  });
});
