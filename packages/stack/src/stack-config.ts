/**
 * Settings of the local stack (`npm start`), all from the environment, all
 * checked before anything starts (issue 5: bad configuration gets a one-line
 * error naming the setting, and never a half-started stack).
 *
 *   HWL_HOME              state folder (default .hwledger): nats/, pg/, logs/, keys
 *   NATS_URL              use this NATS (JetStream enabled) instead of starting nats-server;
 *                         several servers comma-separated; nats://user:pass@host (passwords are
 *                         never echoed: every message shows them as ***)
 *   NATS_SERVER_BIN       nats-server to start (default: PATH, then /usr/sbin/nats-server)
 *   HWL_NATS_PORT         port of the nats-server the stack starts (default 4250)
 *   DATABASE_URL          use this Postgres instead of the embedded one
 *   HWL_PG_PORT           port of the embedded Postgres (default 5450)
 *   HWL_HTTP_PORT         API HTTP + dashboard (default 8080)
 *   HWL_GRPC_PORT         API gRPC (default 9090)
 *   HWL_METRICS_PORT      first of the services' /metrics ports (default 9400; one per service)
 *   HWL_HOST              address the API listens on (default 127.0.0.1)
 *   HWL_CHAINS            chains, one per region (default eu-west-1,us-east-1)
 *   HWL_CHAIN_ID          the API's default chain (default: the first of HWL_CHAINS)
 *   HWL_API_KEYS          API key file to use (default: one generated in HWL_HOME)
 *   HWL_CHECKPOINT_KEY    checkpoint signing key file of the sequencers (default: HWL_HOME/checkpoint.key, generated)
 *   HWL_SIM_RATE          simulated events per second per region (default 20; 0 = no simulated fleet)
 *   HWL_SIM_NODES         simulated nodes per region (default 2)
 *   HWL_SIM_GPUS          simulated GPUs per node (default 4)
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { isValidChainId } from '@hwledger/chain';
import { natsConnectTarget, redactNatsUrl } from '@hwledger/core';
import { StackError } from './stack-error.js';

export interface StackConfig {
  home: string;
  natsUrl?: string;
  natsServerBin?: string;
  natsPort: number;
  databaseUrl?: string;
  pgPort: number;
  httpPort: number;
  grpcPort: number;
  metricsPort: number;
  host: string;
  chains: string[];
  defaultChain: string;
  apiKeysFile?: string;
  checkpointKeyFile?: string;
  sim: { rate: number; nodes: number; gpus: number };
}

export const DEFAULT_CHAINS = ['eu-west-1', 'us-east-1'];

function portSetting(env: NodeJS.ProcessEnv, name: string, def: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1 || n > 65_535) {
    throw new StackError('CONFIG', name, `${JSON.stringify(raw)} is not a port number: use an integer in 1..65535`);
  }
  return n;
}

function intSetting(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new StackError('CONFIG', name, `${JSON.stringify(raw)} is not valid: use an integer in ${min}..${max}`);
  }
  return n;
}

function fileSetting(env: NodeJS.ProcessEnv, name: string, cwd: string, hint: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const p = isAbsolute(raw) ? raw : resolve(cwd, raw);
  if (!existsSync(p)) throw new StackError('MISSING_FILE', name, `key file ${p} does not exist: ${hint}, or unset ${name} to let npm start generate one`);
  return p;
}

/** Checks one URL (without credentials, or with them redacted in every message). */
function checkUrl(name: string, url: string, shown: string, schemes: string[], hint: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StackError('CONFIG', name, `${JSON.stringify(shown)} is not a URL: use e.g. ${schemes[0]}://127.0.0.1:${name === 'NATS_URL' ? 4222 : 5432}${name === 'NATS_URL' ? '' : '/hwledger'}${hint}, or unset it`);
  }
  if (!schemes.includes(u.protocol.replace(/:$/, ''))) {
    throw new StackError('CONFIG', name, `scheme ${u.protocol} is not supported: use ${schemes.map((s) => `${s}://`).join(' or ')}`);
  }
}

function urlSetting(env: NodeJS.ProcessEnv, name: string, schemes: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  checkUrl(name, raw, redactNatsUrl(raw), schemes, ' (percent-encode special characters of a password: / as %2F, @ as %40, : as %3A)');
  return raw;
}

/** NATS_URL: one server or several comma-separated (as the services take it), each nats:// or tls://, one user for all. */
function natsUrlSetting(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env['NATS_URL'];
  if (raw === undefined || raw === '') return undefined;
  let target;
  try {
    target = natsConnectTarget(raw);
  } catch (e) {
    // Messages of natsConnectTarget carry no password.
    throw new StackError('CONFIG', 'NATS_URL', redactNatsUrl(e instanceof Error ? e.message : String(e)));
  }
  if (target.servers.length === 0) throw new StackError('CONFIG', 'NATS_URL', `${JSON.stringify(redactNatsUrl(raw))} names no server: use e.g. nats://127.0.0.1:4222, or unset it`);
  // The servers without their credentials: nothing secret to show.
  for (const s of target.servers) checkUrl('NATS_URL', s, s, ['nats', 'tls'], ' (several servers comma-separated)');
  return raw;
}

export function resolveStackConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): StackConfig {
  const homeRaw = env['HWL_HOME'] || '.hwledger';
  const home = isAbsolute(homeRaw) ? homeRaw : resolve(cwd, homeRaw);

  const chainsRaw = env['HWL_CHAINS'];
  const chains = chainsRaw === undefined || chainsRaw.trim() === '' ? DEFAULT_CHAINS : chainsRaw.split(',').map((s) => s.trim());
  for (const c of chains) {
    if (!isValidChainId(c)) throw new StackError('CONFIG', 'HWL_CHAINS', `chain id ${JSON.stringify(c)} is invalid: use letters, digits, '-' and '_' (e.g. eu-west-1,us-east-1)`);
  }
  if (new Set(chains).size !== chains.length) throw new StackError('CONFIG', 'HWL_CHAINS', `lists a chain twice (${chains.join(',')})`);
  const defaultChain = env['HWL_CHAIN_ID'] || chains[0]!;
  if (!chains.includes(defaultChain)) {
    throw new StackError('CONFIG', 'HWL_CHAIN_ID', `unknown chain id ${JSON.stringify(defaultChain)}: the stack runs ${chains.join(', ')} (add it to HWL_CHAINS or pick one of those)`);
  }

  const natsUrl = natsUrlSetting(env);
  const databaseUrl = urlSetting(env, 'DATABASE_URL', ['postgres', 'postgresql']);
  const cfg: StackConfig = {
    home,
    natsPort: portSetting(env, 'HWL_NATS_PORT', 4250),
    pgPort: portSetting(env, 'HWL_PG_PORT', 5450),
    httpPort: portSetting(env, 'HWL_HTTP_PORT', 8080),
    grpcPort: portSetting(env, 'HWL_GRPC_PORT', 9090),
    metricsPort: portSetting(env, 'HWL_METRICS_PORT', 9400),
    host: env['HWL_HOST'] || '127.0.0.1',
    chains,
    defaultChain,
    sim: {
      rate: intSetting(env, 'HWL_SIM_RATE', 20, 0, 100_000),
      nodes: intSetting(env, 'HWL_SIM_NODES', 2, 1, 64),
      gpus: intSetting(env, 'HWL_SIM_GPUS', 4, 1, 16),
    },
  };
  if (natsUrl !== undefined) cfg.natsUrl = natsUrl;
  if (databaseUrl !== undefined) cfg.databaseUrl = databaseUrl;
  if (env['NATS_SERVER_BIN']) cfg.natsServerBin = env['NATS_SERVER_BIN'];
  const keys = fileSetting(env, 'HWL_API_KEYS', cwd, 'make one with `npx hwledger api keygen --role operator --append FILE`');
  if (keys !== undefined) cfg.apiKeysFile = keys;
  const signing = fileSetting(env, 'HWL_CHECKPOINT_KEY', cwd, 'make one with `npx hwledger checkpoint keygen --name NAME --out FILE`');
  if (signing !== undefined) cfg.checkpointKeyFile = signing;
  if (cfg.metricsPort + 4 * chains.length > 65_535) throw new StackError('CONFIG', 'HWL_METRICS_PORT', `${cfg.metricsPort} leaves no room for ${4 * chains.length} metrics ports: use a lower port`);
  return cfg;
}
