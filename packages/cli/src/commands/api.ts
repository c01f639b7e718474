/**
 * `hwledger api`: serves the query API (docs/api.md) over gRPC and HTTP/JSON
 * until SIGTERM/SIGINT. With NATS it also serves checkpoints, proof bundles
 * and the fleet anchor (docs/proofs.md): --checkpoint-key (verifier keys:
 * signature validity, bundles verified before they are returned), --tree-dir
 * (its Merkle tree stores) and --fleet (the default fleet anchor). `hwledger api keygen`: makes a new API key and prints
 * the key (once) and the key file entry holding only its SHA-256.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import { SUBJECT_TOKEN_RE } from '@hwledger/chain';
import { createLogger, resolveChainId, resolveDatabaseUrl, registerProcessMetrics } from '@hwledger/core';
import { generateKey, loadKeyFile, parseKeyFile, startApi, type ApiKeyEntry } from '@hwledger/api';
import { ExitError } from '../exit-error.js';
import { intOption } from '../api-connection.js';
import { collect, resolveTreeDir } from '../ops/options.js';
import { trustedKeys } from '../ops/keys-cli.js';

interface ServeOptions {
  db?: string;
  nats?: string;
  chain?: string;
  host: string;
  httpPort: number;
  grpcPort: number;
  keys?: string;
  checkpointKey?: string[];
  treeDir?: string;
  fleet?: string;
}

interface KeygenOptions {
  role: string;
  tenant?: string;
  id?: string;
  append?: string;
  json?: boolean;
}

/** Appends an entry to a key file (created when missing), validating the whole file first; written atomically. */
function appendEntry(path: string, entry: ApiKeyEntry): void {
  const entries = existsSync(path) ? parseKeyFile(readFileSync(path, 'utf8'), path) : [];
  const next = parseKeyFile(JSON.stringify([...entries, entry]), path);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

export function register(program: Command): void {
  const api = program
    .command('api')
    .description('Serve the query API over gRPC and HTTP/JSON (subcommand: keygen)')
    .option('--db <url>', 'Postgres URL (env DATABASE_URL)')
    .option('--nats <url>', 'NATS URL for the live chain head and readiness (env NATS_URL; without either, runs without NATS)')
    .option('--chain <id>', 'default chain of requests without chain_id (env HWL_CHAIN_ID)')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--http-port <port>', 'HTTP/JSON port (0 = any free port)', intOption('--http-port', 0, 65535), 8080)
    .option('--grpc-port <port>', 'gRPC port (0 = any free port)', intOption('--grpc-port', 0, 65535), 9090)
    .option('--keys <file>', 'API key file: JSON [{id, role, tenant?, sha256}] (env HWL_API_KEYS)')
    .option('--checkpoint-key <key>', 'checkpoint verifier key text or file, or CHAIN=KEY to trust it for that chain only (required with several keys): signature validity, proofs verified before they are served (repeatable; env HWL_CHECKPOINT_PUBKEYS)', collect)
    .option('--tree-dir <dir>', 'Merkle tree stores for proofs (env HWL_TREE_DIR, default .hwledger/merkle)')
    .option('--fleet <name>', 'fleet anchor reported by GET /v1/fleet/status (env HWL_FLEET)')
    .action(async (o: ServeOptions) => {
      const chainId = resolveChainId(o.chain);
      const databaseUrl = resolveDatabaseUrl(o.db);
      const keysPath = o.keys ?? process.env['HWL_API_KEYS'];
      if (!keysPath) throw new ExitError(2, 'no API keys: pass --keys FILE or set HWL_API_KEYS (make keys with `hwledger api keygen`)');
      const keys = loadKeyFile(keysPath);
      if (keys.length === 0) throw new ExitError(2, `key file ${keysPath} has no keys: every request would be refused`);
      const natsUrl = o.nats ?? process.env['NATS_URL'];
      const checkpointKeys = trustedKeys(o.checkpointKey);
      const fleet = o.fleet ?? process.env['HWL_FLEET'];
      if (fleet !== undefined && !SUBJECT_TOKEN_RE.test(fleet)) throw new ExitError(2, `--fleet must be a fleet name (${SUBJECT_TOKEN_RE.source})`);
      const logger = createLogger('api', { chain: chainId });
      const registry = new Registry();
      registerProcessMetrics(registry); // prom-client defaults minus names promtool rejects
      const running = await startApi({
        databaseUrl,
        chainId,
        keys,
        host: o.host,
        httpPort: o.httpPort,
        grpcPort: o.grpcPort,
        logger,
        registry,
        checkpointKeys,
        treeDir: resolveTreeDir(o.treeDir),
        ...(natsUrl ? { natsUrl } : {}),
        ...(fleet ? { fleet } : {}),
      });
      // One line on stdout with the bound addresses (ports may have been 0).
      process.stdout.write(`api listening http=${running.http?.url ?? '-'} grpc=${running.grpc?.address ?? '-'} chain=${chainId}\n`);
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      logger.info({ signal }, 'api stopping');
      await running.close();
    });

  api
    .command('keygen')
    .description('Make a new API key: prints the key (once) and the key file entry (its SHA-256 only)')
    .requiredOption('--role <role>', 'operator (everything) or tenant (one tenant)')
    .option('--tenant <tenant>', 'the tenant a tenant key may read')
    .option('--id <id>', 'entry id shown in logs (default: derived from role and tenant)')
    .option('--append <file>', 'also add the entry to this key file (created when missing)')
    .option('--json', 'print {key, entry} as JSON')
    .action((o: KeygenOptions) => {
      if (o.role !== 'operator' && o.role !== 'tenant') throw new ExitError(2, '--role must be operator or tenant');
      if (o.role === 'tenant' && (o.tenant === undefined || !SUBJECT_TOKEN_RE.test(o.tenant))) throw new ExitError(2, '--tenant is required for a tenant key and must be a tenant id');
      if (o.role === 'operator' && o.tenant !== undefined) throw new ExitError(2, '--tenant applies to tenant keys only');
      const { key, entry } = generateKey({ role: o.role, ...(o.tenant !== undefined ? { tenant: o.tenant } : {}), ...(o.id !== undefined ? { id: o.id } : {}) });
      if (o.append) appendEntry(o.append, entry);
      if (o.json) {
        process.stdout.write(JSON.stringify({ key, entry }) + '\n');
        return;
      }
      process.stdout.write(
        `key: ${key}\n` +
          `  (shown once: hand it to the client, e.g. as HWL_API_KEY; the server keeps only its SHA-256)\n` +
          (o.append ? `added to ${o.append}:\n` : 'add this entry to the key file (--keys):\n') +
          `${JSON.stringify(entry)}\n`,
      );
    });
}
