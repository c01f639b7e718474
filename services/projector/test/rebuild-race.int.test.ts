/**
 * `--rebuild` of the only chain in a database TRUNCATEs the read models;
 * with other chains it deletes its own rows. The choice is made on a count
 * of other chains: a projector of another chain that commits its first
 * batch between that count and the TRUNCATE had its rows wiped while its
 * checkpoint stayed at its head, so they were never projected again. The
 * race is forced here: the other chain is projected right after the count.
 */
import { describe, expect, it } from 'vitest';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { migrate, Projector, rebuildChain } from '@hwledger/projector';
import { seedChain } from './helpers/seed-chain.js';
import { simulateEvents } from './helpers/fleet.js';
import { diffTables, dumpTables, readChainRows, recompute } from './helpers/recompute.js';
import { racingPool } from './helpers/racing-pool.js';

const nats = useNatsServer();
const db = useTestDatabase({ setup: (pool) => migrate(pool) });

describe('--rebuild racing another chain', () => {
  it("never wipes another chain's rows committed after it counted the chains", async () => {
    await seedChain(nats.nc, 'rr-a', simulateEvents(300, { seed: 5 }));
    await seedChain(nats.nc, 'rr-b', simulateEvents(300, { seed: 6 }));
    await new Projector({ pool: db.pool, nc: nats.nc, chainId: 'rr-a', exitAtHead: true }).start().done;
    let other: Promise<void> | undefined;
    const pool = racingPool(db.pool, 'SELECT count(*) AS n FROM', async () => {
      // rr-b's projector starts now; the rebuild goes on when it is done, or after 2 s if it has to wait.
      other = new Projector({ pool: db.pool, nc: nats.nc, chainId: 'rr-b', exitAtHead: true }).start().done;
      await Promise.race([other, new Promise((r) => setTimeout(r, 2_000))]);
    });
    expect(await rebuildChain(pool, 'rr-a')).toEqual({ mode: 'truncate' });
    expect(other).toBeDefined();
    await other;
    const checkpoint = await db.pool.query("SELECT sequence::int AS s FROM projector_checkpoints WHERE chain_id = 'rr-b'");
    expect(checkpoint.rows[0]?.s).toBe(300);
    const rows = await db.pool.query("SELECT count(*)::int AS n FROM records WHERE chain_id = 'rr-b'");
    expect(rows.rows[0]?.n).toBe(300);
    expect(diffTables(recompute('rr-b', await readChainRows(nats.nc, 'rr-b')), await dumpTables(db.pool, 'rr-b'))).toEqual([]);
  });
});
