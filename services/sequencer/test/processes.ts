/** Running `hwledger sequencer` as a child process (built CLI: run `npx tsc -b` first). */
import type { ChildProcess } from 'node:child_process';
import { spawnCli } from '@hwledger/testkit';

export interface SequencerProcess {
  proc: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the process logged so far (pino JSON lines). */
  logs(): string;
  kill9(): Promise<void>;
  term(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startSequencer(url: string, chain: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): SequencerProcess {
  const proc = spawnCli(['sequencer', '--nats', url, '--chain', chain, ...args], { env: { HWL_LOG_LEVEL: 'info', ...env } });
  let logs = '';
  // pino writes to stdout, errors go to stderr: both are kept, in arrival order.
  const keep = (d: Buffer): void => {
    logs = (logs + d.toString()).slice(-200_000);
  };
  proc.stderr?.on('data', keep);
  proc.stdout?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    proc,
    pid: proc.pid!,
    exited,
    logs: () => logs,
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async term() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

/** A small deterministic PRNG (mulberry32) so "random" kill moments are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
