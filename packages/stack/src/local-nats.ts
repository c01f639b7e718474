/**
 * The stack's own nats-server (when NATS_URL is not set): found on PATH (or
 * /usr/sbin, where Debian installs it), JetStream data in HWL_HOME/nats so a
 * second start resumes the same chains.
 */
import { accessSync, constants, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { ManagedProcess } from './managed-process.js';
import { StackError } from './stack-error.js';

const INSTALL_HINT =
  'install nats-server (Debian/Ubuntu: `sudo apt-get install nats-server`; macOS: `brew install nats-server`; or a release binary from the NATS project on your PATH), set NATS_SERVER_BIN to it, or set NATS_URL to a running NATS with JetStream';

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** nats-server from NATS_SERVER_BIN, PATH, or /usr/sbin; StackError MISSING_PROGRAM when none. */
export function findNatsServer(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined) {
    if (!executable(explicit)) throw new StackError('MISSING_PROGRAM', 'NATS_SERVER_BIN', `${explicit} is not an executable nats-server: ${INSTALL_HINT}`);
    return explicit;
  }
  const dirs = (env['PATH'] ?? '').split(delimiter).filter((d) => d !== '');
  for (const d of [...dirs, '/usr/sbin', '/usr/local/sbin']) {
    const p = join(d, 'nats-server');
    if (existsSync(p) && executable(p)) return p;
  }
  throw new StackError('MISSING_PROGRAM', 'NATS_URL', `not set, and no nats-server found on PATH or in /usr/sbin: ${INSTALL_HINT}`);
}

export interface LocalNats {
  url: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export async function startLocalNats(o: { bin: string; port: number; dir: string; logFile: string }): Promise<LocalNats> {
  mkdirSync(join(o.dir, 'jetstream'), { recursive: true });
  const conf = join(o.dir, 'nats.conf');
  // Loopback only: the local stack has no authentication (deploy/nats/auth.conf is the production layout).
  writeFileSync(
    conf,
    [
      '# Written by npm start (packages/stack). Local development only: loopback, no auth.',
      `listen: 127.0.0.1:${o.port}`,
      'server_name: hwledger-local',
      'max_payload: 1MB',
      'jetstream {',
      `  store_dir: ${JSON.stringify(join(o.dir, 'jetstream'))}`,
      '}',
      '',
    ].join('\n'),
  );
  const p = new ManagedProcess({ name: 'nats-server', command: o.bin, args: ['-c', conf], logFile: o.logFile });
  const url = `nats://127.0.0.1:${o.port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (!p.running) {
      await p.exited;
      throw new StackError('START_FAILED', 'nats-server', `exited at start: ${p.lastLine() || 'no output'} (log: ${o.logFile})`);
    }
    try {
      const nc = await connect({ servers: url, timeout: 500, reconnect: false });
      await nc.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        await p.stop();
        throw new StackError('START_FAILED', 'nats-server', `did not accept connections on ${url} within 20 s (log: ${o.logFile})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { url, process: p, stop: () => p.stop() };
}
