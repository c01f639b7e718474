/**
 * `hwledger replicate --git DIR`: appends the chain's new records (spec
 * export format) and checkpoints to a git repository, one commit per batch;
 * idempotent and crash-safe (docs/proofs.md). --follow keeps going.
 */
import type { Command } from 'commander';
import { connectNats, createLogger, resolveChainId, resolveNatsUrl } from '@hwledger/core';
import { replicateToGit } from '@hwledger/ledger-ops';
import { ExitError } from '../exit-error.js';
import { collect, intOption } from '../ops/options.js';
import { trustedKeys } from '../ops/keys-cli.js';

/** Test-only fault injection: HWL_FAULT_REPLICATE_CRASH=<batch>:<after-write|after-add> SIGKILLs the process there. */
function crashPoint(env: NodeJS.ProcessEnv): { batch: number; point: 'after-write' | 'after-add' } | undefined {
  const m = /^([0-9]+):(after-write|after-add)$/.exec(env['HWL_FAULT_REPLICATE_CRASH'] ?? '');
  return m ? { batch: Number(m[1]), point: m[2] as 'after-write' | 'after-add' } : undefined;
}

export function register(program: Command): void {
  program
    .command('replicate')
    .description('Replicate a chain (records + signed checkpoints) into a git repository, one commit per batch')
    .requiredOption('--git <dir>', 'git repository (created if missing)')
    .option('--nats <url>', 'NATS server URL (env NATS_URL)')
    .option('--chain <id>', 'chain id (env HWL_CHAIN_ID)')
    .option('--batch <n>', 'records per commit', intOption('--batch', 1), 10_000)
    .option('--follow', 'keep replicating new records')
    .option('--interval-ms <ms>', 'poll interval with --follow', intOption('--interval-ms', 10), 5_000)
    .option('--key <key>', 'verifier key the archive anchor must be signed by (repeatable)', collect)
    .action(async (o: { git: string; nats?: string; chain?: string; batch: number; follow?: boolean; intervalMs: number; key?: string[] }) => {
      const chainId = resolveChainId(o.chain);
      const logger = createLogger('replicate', { chain: chainId });
      const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-replicate', { maxReconnectAttempts: 10 });
      let stop = false;
      process.once('SIGTERM', () => (stop = true));
      process.once('SIGINT', () => (stop = true));
      try {
        const crash = crashPoint(process.env);
        let total = 0;
        let commits = 0;
        do {
          const r = await replicateToGit({ nc, chainId, dir: o.git, batch: o.batch, trusted: trustedKeys(o.key), logger, crash });
          total += r.records;
          commits += r.commits;
          if (!o.follow) {
            process.stdout.write(`replicated ${r.records} records and ${r.checkpoints} checkpoints of ${chainId} to ${o.git} in ${r.commits} commits (replica at ${r.head})\n`);
            break;
          }
          if (r.records > 0) logger.info({ records: r.records, head: r.head.toString() }, 'replicated');
          for (let t = 0; t < o.intervalMs && !stop; t += 100) await new Promise((res) => setTimeout(res, 100));
        } while (!stop);
        if (o.follow) process.stdout.write(`replicated ${total} records in ${commits} commits\n`);
      } catch (e) {
        if (e instanceof Error && 'code' in e && (e as { code?: string }).code === 'CONFLICT') throw new ExitError(1, e.message);
        throw e;
      } finally {
        await nc.close().catch(() => undefined);
        logger.flush();
      }
    });
}
