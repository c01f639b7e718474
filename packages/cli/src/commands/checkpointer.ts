/**
 * `hwledger checkpointer`: issues signed checkpoints of a chain as its own
 * process, following the chain stream (for when checkpoints are not issued
 * inside the sequencer). Only one checkpoint writer wins each append: the
 * checkpoint stream is fenced with expected-last-sequence.
 */
import type { Command } from 'commander';
import { closeNats, connectNats, createLogger, resolveChainId, resolveNatsUrl } from '@hwledger/core';
import { Checkpointer, loadSigner } from '@hwledger/ledger-ops';
import { ExitError } from '../exit-error.js';
import { collect, intOption } from '../ops/options.js';
import { trustedKeys } from '../ops/keys-cli.js';

export function register(program: Command): void {
  program
    .command('checkpointer')
    .description('Issue signed checkpoints of a chain, following its stream (alternative to sequencer --checkpoint-key)')
    .option('--nats <url>', 'NATS server URL (env NATS_URL)')
    .option('--chain <id>', 'chain id (env HWL_CHAIN_ID)')
    .option('--checkpoint-key <file>', 'signer key file (repeatable: several keys sign each checkpoint)', collect)
    .option('--trust <key>', 'accept stored checkpoints signed by this verifier key too (e.g. a retired key; repeatable)', collect)
    .option('--checkpoint-every <n>', 'records per checkpoint', intOption('--checkpoint-every', 1), 1000)
    .option('--checkpoint-interval-ms <ms>', 'checkpoint at least this often when records arrived', intOption('--checkpoint-interval-ms', 0), 10_000)
    .action(async (o: { nats?: string; chain?: string; checkpointKey?: string[]; trust?: string[]; checkpointEvery: number; checkpointIntervalMs: number }) => {
      const chainId = resolveChainId(o.chain);
      const files = o.checkpointKey ?? (process.env['HWL_CHECKPOINT_KEY'] ? [process.env['HWL_CHECKPOINT_KEY']] : []);
      if (files.length === 0) throw new ExitError(2, 'pass --checkpoint-key FILE (create one with hwledger checkpoint keygen)');
      const logger = createLogger('checkpointer', { chain: chainId });
      const nc = await connectNats(resolveNatsUrl(o.nats), `hwledger-checkpointer-${chainId}`);
      const cp = new Checkpointer({
        nc,
        chainId,
        signers: files.map(loadSigner),
        trusted: trustedKeys(o.trust),
        everyRecords: o.checkpointEvery,
        intervalMs: o.checkpointIntervalMs,
        logger,
      });
      await cp.start();
      logger.info({ from: cp.size.toString() }, 'checkpointer started');
      const abort = new AbortController();
      process.once('SIGTERM', () => abort.abort());
      process.once('SIGINT', () => abort.abort());
      let failure: unknown;
      await cp.follow(abort.signal).catch((e: unknown) => (failure = e));
      await cp.stop({ flush: !failure });
      await closeNats(nc);
      logger.info({ issued: cp.issued, size: cp.size.toString() }, 'checkpointer stopped');
      logger.flush();
      if (failure) throw failure;
    });
}
