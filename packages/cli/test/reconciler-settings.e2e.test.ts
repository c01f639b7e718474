/**
 * `hwledger reconciler` settings. An empty value (e.g. an unset
 * variable interpolated into `--dispatch-timeout-ms "$TIMEOUT"`) is not a
 * number; it must be refused as a usage error naming the option, not run
 * with a timeout of 0 ms (every running job flagged missing_completion), as
 * it was (found by a review helper).
 */
import { describe, expect, it } from 'vitest';
import { runCli, useTestDatabase } from '@hwledger/testkit';

const database = useTestDatabase({ prefix: 'hwl_rec_r9' });

describe('reconciler settings', () => {
  for (const opt of ['--dispatch-timeout-ms', '--threshold-pct']) {
    it(`refuses an empty ${opt}`, async () => {
      const r = await runCli(['reconciler', '--chain', 'rec-r9', '--db', database.db.url, '--once', opt, ''], {
        timeoutMs: 30_000,
        env: { HWL_LOG_LEVEL: 'silent' },
      });
      expect({ code: r.code, mentionsOption: r.stderr.includes(opt) }).toEqual({ code: 2, mentionsOption: true });
    });
  }
});
