/**
 * `hwledger reconciler`: materializes predicted-vs-actual reconciliation and
 * flags from the projector's tables every --interval ms (docs/read-models.md, "job_reconciliation");
 * --once runs a single pass and prints its result.
 */
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import { createLogger, resolveChainId, resolveDatabaseUrl, registerProcessMetrics } from '@hwledger/core';
import { startHealthServer } from '@hwledger/projector';
import { Reconciler } from '@hwledger/reconciler';
import { ExitError } from '../exit-error.js';
import { intOption } from '../api-connection.js';
import { connectAndMigrate, createPool } from './projector.js';

function numOption(name: string, min: number, integer: boolean): (v: string) => number {
  return (v) => {
    // Decimal digits only: Number() reads '' as 0 (an unset variable became a 0 % threshold or a 0 ms timeout), and '0x10' or '1e3' too.
    const n = (integer ? /^[0-9]+$/ : /^[0-9]+(\.[0-9]+)?$/).test(v) ? Number(v) : Number.NaN;
    if (!Number.isFinite(n) || n < min || (integer && !Number.isSafeInteger(n)))
      throw new ExitError(2, `${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function register(program: Command): void {
  program
    .command('reconciler')
    .description('Pair dispatches with completions and telemetry; flag variances, missing completions and orphans (runs until stopped)')
    .option('--chain <id>', 'chain id (env HWL_CHAIN_ID)')
    .option('--db <url>', 'Postgres URL (env DATABASE_URL)')
    .option('--interval <ms>', 'milliseconds between runs', numOption('--interval', 100, true), 5_000)
    .option('--threshold-pct <pct>', 'flag VRAM / cost variance above this many percent', numOption('--threshold-pct', 0, false), 10)
    .option(
      '--dispatch-timeout-ms <ms>',
      'flag a dispatch without completion or failure after this much chain time',
      numOption('--dispatch-timeout-ms', 0, true),
      3_600_000,
    )
    .option('--once', 'run one pass, print its result as JSON and exit', false)
    .option('--metrics-port <port>', 'serve /metrics and /healthz on this port', intOption('--metrics-port', 0, 65_535))
    .action(
      async (o: { chain?: string; db?: string; interval: number; thresholdPct: number; dispatchTimeoutMs: number; once: boolean; metricsPort?: number }) => {
        const chainId = resolveChainId(o.chain);
        const dbUrl = resolveDatabaseUrl(o.db);
        const logger = createLogger('reconciler', { chain: chainId });
        const registry = new Registry();
        registerProcessMetrics(registry); // prom-client defaults minus names promtool rejects
        const pool = createPool(dbUrl, (e) => logger.warn({ err: e.message }, 'idle database connection lost'));
        try {
          await connectAndMigrate(pool, dbUrl);
          const rec = new Reconciler({
            pool,
            chainId,
            settings: { thresholdPct: o.thresholdPct, dispatchTimeoutMs: BigInt(o.dispatchTimeoutMs) },
            intervalMs: o.interval,
            logger,
            registry,
          });
          if (o.once) {
            const r = await rec.runOnce();
            process.stdout.write(
              `${JSON.stringify({ chain_id: chainId, evaluated: r.evaluated, flagged: r.flagged, last_sequence: r.lastSequence.toString(), chain_time_ms: r.chainTimeMs.toString() })}\n`,
            );
            return;
          }
          const server =
            o.metricsPort !== undefined
              ? await startHealthServer(registry, o.metricsPort, {
                  health: () => ({
                    healthy: rec.lastError === undefined,
                    ready: rec.lastRun !== undefined,
                    chainId,
                    lastError: rec.lastError,
                    lastRun: rec.lastRun,
                  }),
                })
              : undefined;
          rec.start();
          logger.info({ interval: o.interval, thresholdPct: o.thresholdPct, dispatchTimeoutMs: o.dispatchTimeoutMs }, 'reconciler started');
          await new Promise<void>((resolve) => {
            process.once('SIGTERM', () => resolve());
            process.once('SIGINT', () => resolve());
          });
          await rec.stop();
          server?.close();
          logger.info('reconciler stopped');
          logger.flush();
        } finally {
          await pool.end().catch(() => undefined);
        }
      },
    );
}
