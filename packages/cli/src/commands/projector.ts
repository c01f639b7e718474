/**
 * `hwledger projector`: projects a chain into the Postgres read models
 * (docs/projector.md, docs/read-models.md) until SIGTERM/SIGINT, or with
 * --once until it reaches the stream head. --rebuild first forgets the
 * chain's read models and replays from genesis.
 */
import type { Command } from 'commander';
import pg from 'pg';
import { Registry } from 'prom-client';
import {
  closeNats,
  connectNats,
  createLogger,
  HwlError,
  resolveChainId,
  resolveDatabaseUrl,
  resolveNatsUrl,
  registerProcessMetrics,
  redactNatsUrl,
  streams,
} from '@hwledger/core';
import { jetstreamManager } from '@nats-io/jetstream';
import { migrate, Projector, rebuildChain, startHealthServer } from '@hwledger/projector';
import { ExitError } from '../exit-error.js';

function intOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new ExitError(2, `${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
    return n;
  };
}

/**
 * Test-only fault injection: HWL_FAULT_CRASH_IN_BATCH=N makes the process
 * SIGKILL itself inside its N-th batch transaction, after every row and the
 * checkpoint are written and before COMMIT (the "mid-batch" crash).
 */
function crashHook(env: NodeJS.ProcessEnv): ((batchNo: number) => void) | undefined {
  const n = Number(env['HWL_FAULT_CRASH_IN_BATCH'] ?? '');
  if (!Number.isSafeInteger(n) || n <= 0) return undefined;
  return (batchNo) => {
    if (batchNo === n) process.kill(process.pid, 'SIGKILL');
  };
}

/** A pool whose idle-client errors (a killed backend, a restarted server) are logged, not fatal. */
export function createPool(url: string, onError: (e: Error) => void, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 10_000 });
  pool.on('error', onError);
  return pool;
}

export async function connectAndMigrate(pool: pg.Pool, url: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await migrate(pool);
      return;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (attempt >= 5 || !/ECONNREFUSED|terminat|starting up|ETIMEDOUT|timeout/i.test(msg)) {
        if (/ECONNREFUSED|ENOTFOUND|password|does not exist|timeout/i.test(msg)) {
          throw new HwlError(
            'PG_UNREACHABLE',
            `cannot use the database ${new URL(url).pathname.slice(1) || redactNatsUrl(url)} (set --db or DATABASE_URL): ${msg}`,
            {
              cause: e,
            },
          );
        }
        throw e;
      }
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

export function register(program: Command): void {
  program
    .command('projector')
    .description('Verify the chain and project it into the Postgres read models (runs until stopped)')
    .option('--nats <url>', 'NATS server URL (env NATS_URL)')
    .option('--chain <id>', 'chain id (env HWL_CHAIN_ID)')
    .option('--db <url>', 'Postgres URL (env DATABASE_URL)')
    .option('--batch <n>', 'records per transaction', intOption('--batch', 1, 50_000), 2000)
    .option('--linger-ms <ms>', 'wait this long for a partial batch to fill', intOption('--linger-ms', 0, 10_000), 20)
    .option('--rebuild', "drop this chain's read models and replay from genesis first", false)
    .option('--once', 'exit once the stream head (at start) is projected; exit 1 if the chain is broken', false)
    .option('--metrics-port <port>', 'serve /metrics, /healthz and /readyz on this port', intOption('--metrics-port', 0, 65_535))
    .action(
      async (o: { nats?: string; chain?: string; db?: string; batch: number; lingerMs: number; rebuild: boolean; once: boolean; metricsPort?: number }) => {
        const chainId = resolveChainId(o.chain);
        const dbUrl = resolveDatabaseUrl(o.db);
        const natsUrl = resolveNatsUrl(o.nats);
        const logger = createLogger('projector', { chain: chainId });
        const registry = new Registry();
        registerProcessMetrics(registry); // prom-client defaults minus names promtool rejects
        const pool = createPool(dbUrl, (e) => logger.warn({ err: e.message }, 'idle database connection lost'));
        const nc = await connectNats(natsUrl, `hwledger-projector-${chainId}`);
        try {
          await connectAndMigrate(pool, dbUrl);
          if (o.once) {
            // --once projects up to the stream's head: a chain without a stream (a mistyped --chain, a
            // chain never created on this NATS) has none, and the projector would retry for ever.
            const jsm = await jetstreamManager(nc);
            await jsm.streams.info(streams.chain(chainId)).catch((e: unknown) => {
              if (e instanceof Error && /not found/i.test(e.message)) {
                throw new ExitError(
                  2,
                  `chain ${chainId} has no stream ${streams.chain(chainId)} on ${redactNatsUrl(natsUrl)}: nothing to project (check --chain)`,
                );
              }
              throw e;
            });
          }
          if (o.rebuild) {
            const r = await rebuildChain(pool, chainId);
            logger.info({ mode: r.mode }, 'read models of this chain dropped; replaying from genesis');
          }
          const projector = new Projector({
            pool,
            nc,
            chainId,
            batchSize: o.batch,
            lingerMs: o.lingerMs,
            logger,
            registry,
            exitAtHead: o.once,
            beforeCommit: crashHook(process.env),
          });
          const server = o.metricsPort !== undefined ? await startHealthServer(registry, o.metricsPort, projector) : undefined;
          projector.start();
          logger.info({ nats: redactNatsUrl(natsUrl), batch: o.batch, metricsPort: o.metricsPort }, 'projector started');
          const onSignal = (): void => void projector.stop();
          process.once('SIGTERM', onSignal);
          process.once('SIGINT', onSignal);
          await projector.done;
          server?.close();
          const h = projector.health();
          logger.info({ state: h.state, sequence: h.sequence.toString() }, 'projector stopped');
          logger.flush();
          if (o.once) {
            process.stdout.write(
              `${JSON.stringify({ chain_id: chainId, state: h.state, sequence: h.sequence.toString(), broken: h.broken ? { sequence: h.broken.sequence.toString(), reason: h.broken.reason, message: h.broken.message } : null })}\n`,
            );
            if (h.broken)
              throw new ExitError(1, `chain ${chainId} fails verification at sequence ${h.broken.sequence} (${h.broken.reason}): ${h.broken.message}`);
            // Stopped (a signal) before the head: a script running `projector --once && bill` must not go on.
            if (h.state !== 'caught_up')
              throw new ExitError(1, `chain ${chainId}: stopped at sequence ${h.sequence} (${h.state}) before the stream head was projected`);
          }
        } finally {
          await closeNats(nc);
          await pool.end().catch(() => undefined);
        }
      },
    );
}
