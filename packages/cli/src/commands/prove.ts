/**
 * `hwledger prove`: writes an offline proof bundle (docs/proofs.md).
 *   --seq N [--checkpoint latest|SIZE]   inclusion of record N in a signed checkpoint
 *   --consistency A:B                    consistency between the checkpoints at sizes A and B (B may be "latest")
 * The chain's Merkle tree is kept in --tree-dir (default .hwledger/merkle,
 * env HWL_TREE_DIR) and brought up to date from the chain first; every proof
 * is checked against the signed root before it is written.
 *
 * With --api URL the bundle comes from the query API
 * instead of NATS (GET /v1/chains/{id}/proofs/..., or gRPC), with the API key
 * of --api-key (env HWL_API_KEY); the file written is the same. --key still
 * verifies it here before it is written: the API is not trusted.
 */
import { writeFileSync, renameSync } from 'node:fs';
import type { Command } from 'commander';
import { parseU64 } from '@hwledger/chain';
import { connectNats, HwlError, resolveChainId, resolveNatsUrl } from '@hwledger/core';
import { CONSISTENCY_BUNDLE, INCLUSION_BUNDLE, parseProofBundle, proveConsistency, proveInclusion, verifyProofBundle, type ProofBundle } from '@hwledger/ledger-ops';
import type { NoteVerifier } from '@hwledger/chain';
import { ExitError } from '../exit-error.js';
import { withApi } from '../api-connection.js';
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

interface ProveOptions {
  nats?: string;
  chain?: string;
  seq?: bigint;
  checkpoint: string;
  consistency?: string;
  out: string;
  treeDir?: string;
  key?: string[];
  api?: string;
  apiKey?: string;
}

type Request = { kind: 'inclusion'; seq: bigint; checkpoint: bigint | 'latest' } | { kind: 'consistency'; from: bigint; to: bigint | 'latest' };

function parseRequest(o: ProveOptions): Request {
  if ((o.seq === undefined) === (o.consistency === undefined)) throw new ExitError(2, 'pass exactly one of --seq N and --consistency A:B');
  if (o.seq !== undefined) return { kind: 'inclusion', seq: o.seq, checkpoint: size(o.checkpoint, '--checkpoint') };
  const m = /^([0-9]+):([0-9]+|latest)$/.exec(o.consistency!);
  if (!m) throw new ExitError(2, `--consistency must be A:B (tree sizes; B may be latest), got ${JSON.stringify(o.consistency)}`);
  return { kind: 'consistency', from: size(m[1]!, '--consistency A') as bigint, to: size(m[2]!, '--consistency B') };
}

function summarize(b: ProofBundle): string {
  if (b.type === INCLUSION_BUNDLE) return `inclusion of record ${b.sequence} in the checkpoint at ${b.tree_size} (${b.inclusion_proof.length} hashes)`;
  const sizeOf = (note: string): string => /^[^\n]*\n([0-9]+)\n/.exec(note)?.[1] ?? '?';
  return `consistency of checkpoints ${sizeOf(b.old_checkpoint)} -> ${sizeOf(b.new_checkpoint)} (${b.consistency_proof.length} hashes)`;
}

/** The bundle from the query API, checked to be the kind asked for and, with keys, verified here. */
async function fromApi(o: ProveOptions, chainId: string, req: Request, keys: NoteVerifier[]): Promise<ProofBundle> {
  const body = await withApi({ api: o.api, ...(o.apiKey !== undefined ? { key: o.apiKey } : {}) }, async (c) =>
    req.kind === 'inclusion'
      ? (await c.getInclusionProof({ chainId, sequence: req.seq, checkpointSize: req.checkpoint === 'latest' ? 0n : req.checkpoint })).bundle
      : (await c.getConsistencyProof({ chainId, fromSize: req.from, toSize: req.to === 'latest' ? 0n : req.to })).bundle,
  );
  if (body === undefined) throw new HwlError('INTEGRITY', 'the API answered without a bundle');
  const bundle = parseProofBundle(JSON.stringify(body));
  if (bundle.type !== (req.kind === 'inclusion' ? INCLUSION_BUNDLE : CONSISTENCY_BUNDLE)) throw new HwlError('INTEGRITY', `the API answered a ${bundle.type} bundle`);
  if (keys.length > 0) verifyProofBundle(bundle, keys, { chainId });
  return bundle;
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
    .option('--api <url>', 'fetch the bundle from the query API instead of NATS: http://host:port or grpc://host:port')
    .option('--api-key <key>', 'API key for --api (env HWL_API_KEY; prefer the environment)')
    .action(async (o: ProveOptions) => {
      const req = parseRequest(o);
      const keys = trustedKeys(o.key);
      const viaApi = o.api !== undefined;
      // Through the API the chain may be left to the server's default.
      const chainId = viaApi && o.chain === undefined && !process.env['HWL_CHAIN_ID'] ? '' : resolveChainId(o.chain);
      let bundle: ProofBundle;
      if (viaApi) bundle = await fromApi(o, chainId, req, keys);
      else {
        const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-prove', { maxReconnectAttempts: 10 });
        try {
          const ctx = { nc, chainId, treeDir: resolveTreeDir(o.treeDir), trusted: keys };
          bundle = req.kind === 'inclusion' ? await proveInclusion(ctx, req.seq, req.checkpoint) : await proveConsistency(ctx, req.from, req.to);
        } finally {
          await nc.close().catch(() => undefined);
        }
      }
      const tmp = `${o.out}.tmp`;
      writeFileSync(tmp, JSON.stringify(bundle, null, 2) + '\n');
      renameSync(tmp, o.out);
      process.stdout.write(`wrote ${o.out}: ${summarize(bundle)} of chain ${bundle.chain_id}${viaApi ? ` (from ${o.api})` : ''}\n`);
    });
}
