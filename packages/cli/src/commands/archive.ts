/**
 * `hwledger archive --older-than 90d --to DIR`: archives the records
 * covered by checkpoints older than the retention period as verified,
 * compressed export segments with their bounding checkpoints, stores the cut
 * as the chain's anchor, then purges them from the chain stream and (with
 * --db) from the Postgres records table (docs/proofs.md).
 */
import type { Command } from 'commander';
import { connectNats, createLogger, resolveChainId, resolveNatsUrl } from '@hwledger/core';
import { archiveChain, parseDuration } from '@hwledger/ledger-ops';
import { collect, seqOption } from '../ops/options.js';
import { trustedKeys } from '../ops/keys-cli.js';

export function register(program: Command): void {
  program
    .command('archive')
    .description('Archive (then purge) records covered by checkpoints older than --older-than, keeping the chain verifiable')
    .requiredOption('--older-than <duration>', 'retention, e.g. 90d, 12h, 30m')
    .requiredOption('--to <dir>', 'archive directory')
    .option('--nats <url>', 'NATS server URL (env NATS_URL)')
    .option('--chain <id>', 'chain id (env HWL_CHAIN_ID)')
    .option('--db <url>', 'Postgres URL: also delete archived rows from the records table (env DATABASE_URL is NOT used implicitly)')
    .option('--upto <seq>', 'never archive beyond this sequence', seqOption('--upto'))
    .option('--key <key>', 'verifier key the cut checkpoint must be signed by (repeatable)', collect)
    .option('--keep', 'write the archive and the anchor but do not purge anything')
    .action(async (o: { olderThan: string; to: string; nats?: string; chain?: string; db?: string; upto?: bigint; key?: string[]; keep?: boolean }) => {
      const chainId = resolveChainId(o.chain);
      const olderThanMs = parseDuration(o.olderThan, '--older-than');
      const logger = createLogger('archive', { chain: chainId });
      const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-archive', { maxReconnectAttempts: 10 });
      try {
        const r = await archiveChain({ nc, chainId, dir: o.to, olderThanMs, upto: o.upto, databaseUrl: o.db, trusted: trustedKeys(o.key), keep: o.keep, logger });
        process.stdout.write(
          r.archived > 0
            ? `archived records ${r.cut - BigInt(r.archived) + 1n}..${r.cut} of ${chainId} to ${o.to}/${chainId}/${r.segment}; anchor now at ${r.cut}; purged ${r.purged} messages, deleted ${r.deletedRows} rows\n`
            : `nothing new to archive for ${chainId} (anchor at ${r.cut}); purged ${r.purged} messages, deleted ${r.deletedRows} rows\n`,
        );
      } finally {
        await nc.close().catch(() => undefined);
        logger.flush();
      }
    });
}
