/**
 * A real, isolated nats-server for tests: its own free port and a temporary
 * JetStream store directory that is removed on stop(). Restartable on the
 * same port and store, to test broker restarts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { freePort } from './free-port.js';

export interface NatsServerOptions {
  /** Extra config file text appended to the generated config. */
  config?: string;
  /** Keep the store directory after stop() (default: remove it). */
  keepStore?: boolean;
  /** Credentials for the readiness probe when `config` requires authentication. */
  probeAuth?: { user: string; pass: string };
  /** TLS options for the readiness probe when `config` requires TLS (nats.js `tls`, e.g. `{ caFile }`). */
  probeTls?: { caFile?: string; certFile?: string; keyFile?: string };
}

export const NATS_SERVER_BIN = process.env['NATS_SERVER_BIN'] ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server');

export class TestNatsServer {
  private proc: ChildProcess | undefined;
  readonly dir: string;

  private constructor(
    readonly port: number,
    private readonly opts: NatsServerOptions,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'hwl-nats-'));
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(opts: NatsServerOptions = {}): Promise<TestNatsServer> {
    const s = new TestNatsServer(await freePort(), opts);
    await s.startProcess();
    return s;
  }

  private async startProcess(): Promise<void> {
    const conf = join(this.dir, 'nats.conf');
    writeFileSync(
      conf,
      `listen: 127.0.0.1:${this.port}\njetstream {\n  store_dir: ${JSON.stringify(join(this.dir, 'js'))}\n}\n${this.opts.config ?? ''}\n`,
    );
    const proc = spawn(NATS_SERVER_BIN, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    this.proc = proc;
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`nats-server exited (${proc.exitCode}): ${stderr}`);
      try {
        const nc = await connect({ servers: this.url, timeout: 500, reconnect: false, ...this.opts.probeAuth, ...(this.opts.probeTls ? { tls: this.opts.probeTls } : {}) });
        await nc.close();
        return;
      } catch {
        if (Date.now() > deadline) {
          proc.kill('SIGKILL'); // never leak a server that did not become ready
          throw new Error(`nats-server did not start on ${this.url}: ${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Stops the server process (SIGTERM, then SIGKILL), keeping the store. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    // A process ended by a signal has exitCode null and signalCode set: it is gone too.
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    this.resume(); // a frozen process would not act on SIGTERM until SIGKILL
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    const t = setTimeout(() => p.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
  }

  /**
   * Freezes the server process (SIGSTOP): connections stay open and nothing
   * answers, as with a broker that hangs. resume() (SIGCONT) undoes it; stop()
   * and kill() resume it first.
   */
  pause(): void {
    this.proc?.kill('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (this.paused) this.proc?.kill('SIGCONT');
    this.paused = false;
  }

  private paused = false;

  /** Restarts on the same port and store (a broker restart). */
  async restart(): Promise<void> {
    await this.kill();
    await this.startProcess();
  }

  async stop(): Promise<void> {
    await this.kill();
    if (!this.opts.keepStore) rmSync(this.dir, { recursive: true, force: true });
  }
}
