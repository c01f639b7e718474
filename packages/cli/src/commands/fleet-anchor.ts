/**
 * `hwledger fleet-anchor --chains A,B --key PUBKEY`: appends each region
 * chain's newest signed checkpoint to the fleet anchor stream HWL_FLEET_<fleet>
 * (hash-linked entries) after checking it is trusted and consistent with the
 * one anchored before (docs/proofs.md). --once for a single round.
 */
import type { Command } from 'commander';
import { closeNats, assertToken, connectNats, createLogger, resolveNatsUrl } from '@hwledger/core';
import { FleetAnchorer } from '@hwledger/ledger-ops';
import { ExitError } from '../exit-error.js';
import { collect, intOption } from '../ops/options.js';
import { trustedKeys } from '../ops/keys-cli.js';

export function register(program: Command): void {
  program
    .command('fleet-anchor')
    .description("Record the region chains' signed checkpoints in the fleet anchor (hash-linked)")
    .requiredOption('--chains <ids>', 'comma-separated region chain ids')
    .option('--fleet <name>', 'fleet anchor name (env HWL_FLEET)', process.env['HWL_FLEET'] ?? 'main')
    .option('--nats <url>', 'NATS server URL (env NATS_URL)')
    .option('--key <key>', 'verifier key(s) of the region checkpoints (repeatable; env HWL_CHECKPOINT_PUBKEYS)', collect)
    .option('--interval-ms <ms>', 'round interval', intOption('--interval-ms', 10), 10_000)
    .option('--once', 'one round, then exit')
    .action(async (o: { chains: string; fleet: string; nats?: string; key?: string[]; intervalMs: number; once?: boolean }) => {
      const chains = o.chains.split(',').map((c) => assertToken(c.trim(), 'chain id'));
      const keys = trustedKeys(o.key);
      if (keys.length === 0) throw new ExitError(2, 'pass --key (the region verifier keys)');
      const logger = createLogger('fleet-anchor', { fleet: o.fleet });
      const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-fleet-anchor', { maxReconnectAttempts: o.once ? 10 : -1 });
      try {
        // Inside the try: a refused key setup must still close the connection (else the process hangs).
        const anchorer = new FleetAnchorer({ nc, fleet: assertToken(o.fleet, 'fleet name'), chains, trusted: keys, logger });
        if (o.once) {
          await anchorer.load();
          const n = await anchorer.tick();
          process.stdout.write(`fleet ${o.fleet}: anchored ${n} region checkpoint${n === 1 ? '' : 's'}\n`);
          return;
        }
        const abort = new AbortController();
        process.once('SIGTERM', () => abort.abort());
        process.once('SIGINT', () => abort.abort());
        await anchorer.run(o.intervalMs, abort.signal);
      } finally {
        await closeNats(nc);
        logger.flush();
      }
    });
}
