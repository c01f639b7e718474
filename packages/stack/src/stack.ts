/**
 * The local stack (`npm start`): checks every setting, then starts NATS,
 * Postgres, the services and the simulated fleet in order, and stops them in
 * reverse order. Nothing starts until every check passed; if anything fails
 * while starting, everything already started is stopped before the error is
 * reported (never a half-started stack).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { ensureChainTopology, streams, natsConnectTarget, redactNatsUrl } from '@hwledger/core';
import { parseKeyFile } from '@hwledger/api';
import { ensureOperatorKey, type StackKeys } from './api-keys.js';
import { findNatsServer, startLocalNats, type LocalNats } from './local-nats.js';
import { embeddedPostgresBinaries, startLocalPostgres, type LocalPostgres } from './local-postgres.js';
import { ManagedProcess } from './managed-process.js';
import { assertPortsFree } from './ports.js';
import { checkNats, checkPostgres } from './preflight.js';
import { planServices, portClaims, urlHost, type ServiceSpec } from './service-plan.js';
import { ensurePriceBook } from './price-book.js';
import type { StackConfig } from './stack-config.js';
import { isStackError, StackError } from './stack-error.js';

/** The hwledger CLI entry the services run (packages/cli/bin/hwledger.js). */
export const CLI_ENTRY = fileURLToPath(new URL('../../cli/bin/hwledger.js', import.meta.url));

export interface RunningService {
  spec: ServiceSpec;
  process: ManagedProcess;
}

export interface StackInfo {
  natsUrl: string;
  databaseUrl: string;
  dashboardUrl: string;
  apiUrl: string;
  grpcAddress: string;
  keys: StackKeys;
  services: { name: string; pid: number | undefined; metrics: string }[];
  /** Head sequence of each chain when the stack started (0 = new chain). */
  resumedAt: Record<string, string>;
  natsPid?: number;
  postgresPid?: number;
  logs: string;
}

export interface Stack {
  info: StackInfo;
  /** Resolves when a service exits on its own (the stack is then unhealthy). */
  failed: Promise<{ service: string; message: string }>;
  stop(): Promise<void>;
}

type Log = (line: string) => void;

/**
 * HWL_HOME/logs, private to the user (0700; narrowed if an older run made it
 * 0755): the logs of Postgres and the services are nobody else's business.
 * HWL_HOME itself keeps its mode (the embedded Postgres may run as another
 * user that must enter it).
 */
export function ensurePrivateLogs(home: string): string {
  const logs = join(home, 'logs');
  mkdirSync(home, { recursive: true });
  mkdirSync(logs, { recursive: true, mode: 0o700 });
  chmodSync(logs, 0o700);
  return logs;
}

/** Flags whose value the services also read from the environment (NATS_URL, DATABASE_URL): passed there instead, so no password is in argv (`ps`). */
const FLAGS_FROM_ENV = new Map([
  ['--nats', 'NATS_URL'],
  ['--db', 'DATABASE_URL'],
]);

/** A service's arguments without `--nats URL` / `--db URL` (given to it as NATS_URL / DATABASE_URL, whose values must equal `env`'s). */
export function argsWithoutUrls(args: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const envName = FLAGS_FROM_ENV.get(args[i]!);
    if (envName !== undefined && i + 1 < args.length && env[envName] === args[i + 1]) {
      i++;
      continue;
    }
    out.push(args[i]!);
  }
  return out;
}

/** HWL_HOME/stack.json, 0600, with every URL password redacted. */
export function writeStackJson(home: string, info: StackInfo): void {
  const file = join(home, 'stack.json');
  const { keys, ...rest } = info;
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        ...rest,
        natsUrl: redactNatsUrl(info.natsUrl),
        databaseUrl: redactNatsUrl(info.databaseUrl),
        keys: { keysFile: keys.keysFile, operatorKeyFile: keys.operatorKeyFile },
        // Without the #key=… of the banner's link.
        dashboardUrl: info.dashboardUrl.replace(/#.*$/, ''),
        startedAt: new Date().toISOString(),
        pid: process.pid,
      },
      null,
      2,
    )}\n`,
    { mode: 0o600 },
  );
  chmodSync(file, 0o600);
}

/**
 * Signals that stop the stack: Ctrl-C (SIGINT), kill (SIGTERM), and the
 * terminal closing (SIGHUP). The children run in their own process groups
 * (so Ctrl-C reaches only the runner, which stops them in order): a signal
 * the runner does not handle kills it without its exit hook, and would leave
 * nats-server, Postgres and every service running with their ports taken.
 */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs a stack from `start()` until a stop signal or a service failing, then
 * stops it; returns the exit code (0 after a signal, 1 after a failure). A
 * signal while starting: finish starting, then stop. An error of `start()`
 * is thrown (start() stops what it started). The signal handlers stay until
 * the process exits, so a second signal cannot kill the runner mid-stop.
 */
export async function runStack(start: () => Promise<Stack>, out: { started(stack: Stack): void; say: Log; warn: Log }): Promise<number> {
  let signalled: NodeJS.Signals | undefined;
  let wake: () => void = () => undefined;
  const signalledP = new Promise<void>((r) => (wake = r));
  const onSignal = (s: NodeJS.Signals): void => {
    signalled ??= s;
    wake();
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  const stack = await start();
  out.started(stack);
  const outcome = await Promise.race([signalledP.then(() => undefined), stack.failed]);
  if (outcome) {
    out.warn(`${outcome.service} ${outcome.message.replace(/\s*\n\s*/g, ' ')}; stopping the stack`);
  } else {
    out.say('');
    out.say(`${signalled ?? 'signal'} received, stopping…`);
  }
  await stack.stop();
  out.say('stopped.');
  return outcome ? 1 : 0;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One stack per HWL_HOME: a pid file, refused while its process lives. */
function lockHome(home: string): () => void {
  const lock = join(home, 'stack.pid');
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
      throw new StackError('CONFIG', 'HWL_HOME', `another npm start (pid ${pid}) is running on ${home}: stop it (Ctrl-C or kill ${pid}), or set HWL_HOME to another folder`);
    }
  }
  writeFileSync(lock, `${process.pid}\n`);
  return () => rmSync(lock, { force: true });
}

async function waitHealthy(s: RunningService, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const url = s.spec.healthUrl;
  if (url === undefined) {
    // No health endpoint: alive after a moment is all we can tell.
    const r = await Promise.race([s.process.exited, new Promise<undefined>((res) => setTimeout(() => res(undefined), 2_000))]);
    if (r) throw new StackError('START_FAILED', s.spec.name, `exited at start (code ${String(r.code)}): ${s.process.lastLine() || 'no output'} (log: ${s.process.o.logFile})`);
    return;
  }
  for (;;) {
    if (!s.process.running) {
      const r = await s.process.exited;
      throw new StackError('START_FAILED', s.spec.name, `exited at start (code ${String(r.code)}): ${s.process.lastLine() || 'no output'} (log: ${s.process.o.logFile})`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      throw new StackError('START_FAILED', s.spec.name, `not healthy at ${url} within ${Math.round(timeoutMs / 1000)} s: ${s.process.lastLine() || 'no output'} (log: ${s.process.o.logFile})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The checkpoint signer: HWL_CHECKPOINT_KEY (its verifier key beside it as
 * FILE.pub), or HWL_HOME/checkpoint.key made once with `hwledger checkpoint keygen`.
 */
async function ensureCheckpointKey(cfg: StackConfig, logs: string): Promise<{ signer: string; verifier: string }> {
  const signer = cfg.checkpointKeyFile ?? join(cfg.home, 'checkpoint.key');
  const verifier = `${signer}.pub`;
  if (cfg.checkpointKeyFile === undefined && !existsSync(signer)) {
    const p = new ManagedProcess({ name: 'checkpoint-keygen', command: process.execPath, args: [CLI_ENTRY, 'checkpoint', 'keygen', '--name', 'hwledger-local', '--out', signer], logFile: join(logs, 'checkpoint-keygen.log') });
    const r = await p.exited;
    if (r.code !== 0) throw new StackError('START_FAILED', 'HWL_CHECKPOINT_KEY', `could not create ${signer}: ${p.lastLine()}`);
  }
  if (!existsSync(verifier)) throw new StackError('MISSING_FILE', 'HWL_CHECKPOINT_KEY', `verifier key ${verifier} (beside the signer key) does not exist: \`hwledger checkpoint keygen --out FILE\` writes both`);
  return { signer, verifier };
}

/** Checks every setting and dependency; throws the first problem. Starts nothing. */
export async function preflight(cfg: StackConfig): Promise<void> {
  if (cfg.natsUrl === undefined) findNatsServer(cfg.natsServerBin);
  if (cfg.databaseUrl === undefined) await embeddedPostgresBinaries();
  if (!existsSync(CLI_ENTRY) || !existsSync(fileURLToPath(new URL('../../cli/dist/main.js', import.meta.url)))) {
    throw new StackError('MISSING_PROGRAM', 'build', 'the hwledger CLI is not built: run `npm run build` (npm start does it for you)');
  }
  if (cfg.apiKeysFile !== undefined) {
    let entries;
    try {
      entries = parseKeyFile(readFileSync(cfg.apiKeysFile, 'utf8'), cfg.apiKeysFile);
    } catch (e) {
      throw new StackError('CONFIG', 'HWL_API_KEYS', `${e instanceof Error ? e.message : String(e)}: fix the file (make keys with \`npx hwledger api keygen\`), or unset HWL_API_KEYS`);
    }
    if (entries.length === 0) throw new StackError('CONFIG', 'HWL_API_KEYS', `${cfg.apiKeysFile} holds no keys: add one with \`npx hwledger api keygen --role operator --append ${cfg.apiKeysFile}\``);
  }
  if (cfg.checkpointKeyFile !== undefined && !existsSync(`${cfg.checkpointKeyFile}.pub`)) {
    throw new StackError('MISSING_FILE', 'HWL_CHECKPOINT_KEY', `verifier key ${cfg.checkpointKeyFile}.pub (beside the signer key) does not exist: \`hwledger checkpoint keygen --out FILE\` writes both`);
  }
  await assertPortsFree(portClaims(cfg), cfg.host);
  // Their messages name the URL, redacted (redactUrl).
  if (cfg.natsUrl !== undefined) await checkNats(cfg.natsUrl);
  if (cfg.databaseUrl !== undefined) await checkPostgres(cfg.databaseUrl);
}

export async function startStack(cfg: StackConfig, log: Log = () => undefined): Promise<Stack> {
  // The home lock first: a second `npm start` on the same HWL_HOME finds the first one's ports
  // taken, and was told "port 8080 in use" instead of which process holds the home (found in a
  // review). Released again if the checks below refuse the start.
  let unlock: () => void;
  try {
    mkdirSync(cfg.home, { recursive: true, mode: 0o700 });
    unlock = lockHome(cfg.home);
  } catch (e) {
    if (isStackError(e)) throw e;
    // Not a folder this user can write (EACCES, ENOTDIR, EROFS, …): a setting to change, exit 2.
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new StackError('CONFIG', 'HWL_HOME', `cannot use ${cfg.home} as the stack's folder (${code}): set HWL_HOME to a folder this user can create and write`, { cause: e });
  }
  try {
    await preflight(cfg);
  } catch (e) {
    unlock();
    throw e;
  }
  const logs = ensurePrivateLogs(cfg.home);
  let nats: LocalNats | undefined;
  let pgsql: LocalPostgres | undefined;
  const running: RunningService[] = [];

  const stopAll = async (): Promise<void> => {
    // Reverse start order: traffic first, then API, readers, writers; then NATS and Postgres.
    for (const s of [...running].reverse()) {
      await s.process.stop();
    }
    await nats?.stop();
    await pgsql?.stop();
    unlock();
  };

  try {
    // Keys and the state folder first: cheap, and a bad key file stops us before any process.
    const keys: StackKeys = cfg.apiKeysFile !== undefined ? { keysFile: cfg.apiKeysFile } : ensureOperatorKey(cfg.home);

    let natsUrl = cfg.natsUrl;
    if (natsUrl === undefined) {
      log(`starting nats-server on 127.0.0.1:${cfg.natsPort} (JetStream data in ${join(cfg.home, 'nats')})`);
      nats = await startLocalNats({ bin: findNatsServer(cfg.natsServerBin), port: cfg.natsPort, dir: join(cfg.home, 'nats'), logFile: join(logs, 'nats-server.log') });
      natsUrl = nats.url;
    }
    let databaseUrl = cfg.databaseUrl;
    if (databaseUrl === undefined) {
      log(`starting embedded Postgres on 127.0.0.1:${cfg.pgPort} (data in ${join(cfg.home, 'pg')})`);
      pgsql = await startLocalPostgres({ home: cfg.home, port: cfg.pgPort, logFile: join(logs, 'postgres.log'), log });
      databaseUrl = pgsql.url;
    }

    // Chain topology (idempotent) and where each chain resumes.
    const resumedAt: Record<string, string> = {};
    const nc = await connect({ ...natsConnectTarget(natsUrl), timeout: 5_000, name: 'hwledger-stack' });
    try {
      for (const c of cfg.chains) await ensureChainTopology(nc, c);
      const jsm = await jetstreamManager(nc);
      for (const c of cfg.chains) resumedAt[c] = String((await jsm.streams.info(streams.chain(c))).state.last_seq);
    } finally {
      await nc.close();
    }

    const checkpointKey = await ensureCheckpointKey(cfg, logs);
    const specs = planServices(cfg, { nats: natsUrl, db: databaseUrl, keysFile: keys.keysFile, checkpointKey }, Date.now() % 1_000_000_000);
    const childEnv: NodeJS.ProcessEnv = { ...process.env, NATS_URL: natsUrl, DATABASE_URL: databaseUrl, HWL_LOG_LEVEL: process.env['HWL_LOG_LEVEL'] ?? 'info' };
    delete childEnv['HWL_CHAIN_ID'];
    // Start role by role; wait for each role to be healthy before the next.
    const roles = [...new Set(specs.map((s) => s.role))];
    for (const role of roles) {
      const batch = specs.filter((s) => s.role === role).map((spec) => {
        // URLs (passwords) through the environment, not argv: `ps` shows argv to every user.
        const process_ = new ManagedProcess({ name: spec.name, command: process.execPath, args: [CLI_ENTRY, ...argsWithoutUrls(spec.args, childEnv)], env: childEnv, logFile: join(logs, `${spec.name}.log`) });
        const r = { spec, process: process_ };
        running.push(r);
        return r;
      });
      log(`starting ${batch.map((b) => b.spec.name).join(', ')}`);
      await Promise.all(batch.map((b) => waitHealthy(b, 90_000)));
      // The projectors have applied the schema: a default price book, if none is set yet.
      if (role === 'projector' && (await ensurePriceBook({ databaseUrl, home: cfg.home, logs, cli: CLI_ENTRY }))) log('set the default price book (hwledger pricing list shows it)');
    }

    const host = urlHost(cfg.host);
    const apiUrl = `http://${host}:${cfg.httpPort}`;
    const info: StackInfo = {
      natsUrl,
      databaseUrl,
      apiUrl,
      grpcAddress: `${host}:${cfg.grpcPort}`,
      dashboardUrl: `${apiUrl}/dashboard/${keys.operatorKey ? `#key=${keys.operatorKey}` : ''}`,
      keys,
      services: running.map((s) => ({ name: s.spec.name, pid: s.process.pid, metrics: s.spec.metricsPort > 0 ? `http://127.0.0.1:${s.spec.metricsPort}/metrics` : '' })),
      resumedAt,
      logs,
      ...(nats?.process.pid !== undefined ? { natsPid: nats.process.pid } : {}),
      ...(pgsql?.process.pid !== undefined ? { postgresPid: pgsql.process.pid } : {}),
    };
    writeStackJson(cfg.home, info);

    const failed = new Promise<{ service: string; message: string }>((resolve) => {
      for (const s of running) {
        void s.process.exited.then((r) => {
          if (!s.process.isStopping) resolve({ service: s.spec.name, message: `exited (code ${String(r.code)}, signal ${String(r.signal)}): ${s.process.lastLine()} (log: ${s.process.o.logFile})` });
        });
      }
      for (const p of [nats?.process, pgsql?.process]) {
        if (p) void p.exited.then(() => !p.isStopping && resolve({ service: p.name, message: `exited: ${p.lastLine()} (log: ${p.o.logFile})` }));
      }
    });
    let stopped: Promise<void> | undefined;
    return { info, failed, stop: () => (stopped ??= stopAll()) };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
