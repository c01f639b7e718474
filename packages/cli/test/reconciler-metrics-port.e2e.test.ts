/**
 * `hwledger reconciler --metrics-port` was parsed with no upper bound (every
 * other service's --metrics-port / --http-port is 0..65535): 70000 is
 * accepted, the reconciler connects to Postgres and migrates, and only then
 * does the listen fail with Node's "options.port should be >= 0 and < 65536"
 * (no mention of --metrics-port). The projector refuses the same value at
 * parse time naming the option (found in a review; now so does the reconciler).
 */
import { describe, expect, it } from 'vitest';
import { runCli, useTestDatabase } from '@hwledger/testkit';

const database = useTestDatabase({ prefix: 'hwl_rec_port' });

describe('reconciler --metrics-port', () => {
  it('refuses a port above 65535 as a usage error naming the option', async () => {
    const r = await runCli(['reconciler', '--chain', 'rec-port', '--db', database.db.url, '--metrics-port', '70000'], { timeoutMs: 30_000, env: { HWL_LOG_LEVEL: 'silent' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--metrics-port/);
  });
});
