/**
 * A child process of the stack: its output goes to a log file (the terminal
 * stays readable), it is started in its own process group so a terminal
 * Ctrl-C reaches only the stack runner (which then stops children in
 * dependency order), and stop() signals it and waits for it to exit (then
 * kills its whole group if it does not).
 *
 * Logs are private (other local users must not read them: the stack's
 * database password): a log file is made 0600 (an older one is narrowed to
 * 0600), and the command line it records has every URL password replaced by
 * ***. Secrets should not be in argv at all (`ps` shows it to every user):
 * pass them in `env`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, fchmodSync, openSync, type WriteStream } from 'node:fs';
import { redactNatsUrl } from '@hwledger/core';

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  logFile: string;
  uid?: number;
  gid?: number;
  /** Signal for a graceful stop (default SIGTERM). */
  stopSignal?: NodeJS.Signals;
}

/** Every live child, killed on a hard exit of the runner (process 'exit' hook). */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) {
      try {
        if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
      } catch {
        c.kill('SIGKILL');
      }
    }
  });
}

/** A command line as it may be logged: every URL password (postgres://u:p@…, nats://u:p@…) replaced by ***. */
export function redactArgv(argv: readonly string[]): string[] {
  return argv.map((a) => redactNatsUrl(a));
}

export class ManagedProcess {
  readonly proc: ChildProcess;
  private readonly log: WriteStream;
  private tail = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stopping = false;

  constructor(readonly o: ManagedProcessOptions) {
    installExitHook();
    const fd = openSync(o.logFile, 'a', 0o600);
    fchmodSync(fd, 0o600);
    this.log = createWriteStream(o.logFile, { fd });
    this.log.write(`\n--- ${new Date().toISOString()} start ${redactArgv([o.command, ...o.args]).join(' ')}\n`);
    this.proc = spawn(o.command, o.args, {
      env: o.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      ...(o.uid !== undefined ? { uid: o.uid } : {}),
      ...(o.gid !== undefined ? { gid: o.gid } : {}),
    });
    live.add(this.proc);
    const onData = (d: Buffer): void => {
      this.log.write(d);
      this.tail = (this.tail + d.toString()).slice(-8_000);
    };
    this.proc.stdout?.on('data', onData);
    this.proc.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.proc.once('error', (e) => {
        this.tail += `\n${e.message}`;
        live.delete(this.proc);
        resolve({ code: -1, signal: null });
      });
      this.proc.once('close', (code, signal) => {
        live.delete(this.proc);
        this.log.end(`--- ${new Date().toISOString()} exit code=${code} signal=${signal}\n`);
        resolve({ code, signal });
      });
    });
  }

  get name(): string {
    return this.o.name;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** The last meaningful line the process wrote (for one-line errors), URL passwords redacted. */
  lastLine(): string {
    return redactNatsUrl(this.rawLastLine());
  }

  private rawLastLine(): string {
    const lines = this.tail
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    for (let i = lines.length - 1; i >= 0; i--) {
      const l = lines[i]!;
      // pino JSON lines: prefer their msg / err.message.
      if (l.startsWith('{')) {
        try {
          const j = JSON.parse(l) as { msg?: string; err?: { message?: string }; level?: number };
          if ((j.level ?? 0) >= 50) return j.err?.message ?? j.msg ?? l;
          continue;
        } catch {
          return l;
        }
      }
      return l;
    }
    return '';
  }

  /**
   * Asks the process to stop (its stop signal, to the process alone: a
   * server such as Postgres stops its own children in order) and waits;
   * after `timeoutMs`, SIGKILL to its whole process group. Killing the
   * process alone would leave its children running, and they hold its
   * output pipes open, so `exited` (which waits for them to close) and this
   * call would never resolve.
   */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.stopping = true;
    // Already exited (crashed), its children may still hold the pipes: the same group kill after the timeout.
    if (this.running) this.signal(this.o.stopSignal ?? 'SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL', true), timeoutMs);
    await this.exited;
    clearTimeout(t);
  }

  private signal(s: NodeJS.Signals, group = false): void {
    const pid = this.proc.pid;
    if (pid === undefined) return;
    try {
      // The child leads its own group (spawned detached): -pid is that group.
      process.kill(group ? -pid : pid, s);
    } catch {
      try {
        // The process alone, only while it has not exited (after, its pid may be another process's).
        if (group && this.running) process.kill(pid, s);
      } catch {
        /* already gone */
      }
    }
  }
}
