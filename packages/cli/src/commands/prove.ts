/**
 * `hwledger prove`: writes an offline proof bundle (docs/proofs.md).
 *   --seq N [--checkpoint latest|SIZE]   inclusion of record N in a signed checkpoint
 *   --consistency A:B                    consistency between the checkpoints at sizes A and B (B may be "latest")
 * The chain's Merkle tree is kept in --tree-dir (default .hwledger/merkle,
 * env HWL_TREE_DIR) and brought up to date from the chain first; every proof
 * is checked against the signed root before it is written.
 */
import { writeFileSync, renameSync } from 'node:fs';
import type { Command } from 'commander';
import { parseU64 } from '@hwledger/chain';
import { connectNats, resolveChainId, resolveNatsUrl } from '@hwledger/core';
import { proveConsistency, proveInclusion } from '@hwledger/ledger-ops';
import { ExitError } from '../main.js';
import { collect, resolveTreeDir, seqOption } from '../ops/options.js';
import { trustedKeys } from '../ops/keys-cli.js';

function size(v: string, what: string): bigint | 'latest' {
  if (v === 'latest') return 'latest';
  try {
    return parseU64(v, what);
  } catch {
    throw new ExitError(2, `${what} must be a tree size or "latest", got ${JSON.stringify(v)}`);
  }
}

export function register(program: Command): void {
  program
    .command('prove')
    .description('Write an offline proof bundle: inclusion of a record (--seq) or consistency of two checkpoints (--consistency A:B)')
    .option('--nats <url>', 'NATS server URL (env NATS_URL)')
    .option('--chain <id>', 'chain id (env HWL_CHAIN_ID)')
    .option('--seq <n>', 'record sequence to prove', seqOption('--seq'))
    .option('--checkpoint <size>', 'checkpoint to prove against: latest or its tree size', 'latest')
    .option('--consistency <a:b>', 'prove the checkpoint at size B extends the one at size A')
    .requiredOption('--out <file>', 'bundle file to write (JSON)')
    .option('--tree-dir <dir>', 'Merkle tree stores (env HWL_TREE_DIR, default .hwledger/merkle)')
    .option('--key <key>', 'verifier key: check the bundle before writing it (repeatable)', collect)
    .action(async (o: { nats?: string; chain?: string; seq?: bigint; checkpoint: string; consistency?: string; out: string; treeDir?: string; key?: string[] }) => {
      const chainId = resolveChainId(o.chain);
      if ((o.seq === undefined) === (o.consistency === undefined)) throw new ExitError(2, 'pass exactly one of --seq N and --consistency A:B');
      const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-prove', { maxReconnectAttempts: 10 });
      try {
        const ctx = { nc, chainId, treeDir: resolveTreeDir(o.treeDir), trusted: trustedKeys(o.key) };
        let bundle: object;
        let summary: string;
        if (o.seq !== undefined) {
          const b = await proveInclusion(ctx, o.seq, size(o.checkpoint, '--checkpoint'));
          bundle = b;
          summary = `inclusion of record ${b.sequence} in the checkpoint at ${b.tree_size} (${b.inclusion_proof.length} hashes)`;
        } else {
          const m = /^([0-9]+):([0-9]+|latest)$/.exec(o.consistency!);
          if (!m) throw new ExitError(2, `--consistency must be A:B (tree sizes; B may be latest), got ${JSON.stringify(o.consistency)}`);
          const b = await proveConsistency(ctx, size(m[1]!, '--consistency A') as bigint, size(m[2]!, '--consistency B'));
          bundle = b;
          summary = `consistency of checkpoints ${m[1]} -> ${m[2]} (${b.consistency_proof.length} hashes)`;
        }
        const tmp = `${o.out}.tmp`;
        writeFileSync(tmp, JSON.stringify(bundle, null, 2) + '\n');
        renameSync(tmp, o.out);
        process.stdout.write(`wrote ${o.out}: ${summary} of chain ${chainId}\n`);
      } finally {
        await nc.close().catch(() => undefined);
      }
    });
}
