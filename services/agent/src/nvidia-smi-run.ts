/**
 * Runs nvidia-smi once and returns its parsed output. The binary path is
 * configurable (tests point it at fake scripts). Failure modes each become a
 * typed NvidiaSmiError: missing binary, not executable, non-zero exit (driver
 * not loaded), hang (killed after `timeoutMs`, its whole process group, so a
 * wedged child cannot keep the pipe open), oversized output.
 */
import { spawn } from 'node:child_process';
import { NvidiaSmiError } from './nvidia-smi-error.js';
import { NVIDIA_SMI_ARGS, parseNvidiaSmiCsv, type NvidiaSmiSample } from './nvidia-smi-parse.js';

export interface NvidiaSmiRunOptions {
  /** Path or name of the binary (default `nvidia-smi`, looked up on PATH). */
  bin?: string;
  /** Kill it after this many ms (default 10 000). */
  timeoutMs?: number;
  /** Max stdout bytes (default 1 MiB). */
  maxOutputBytes?: number;
}

export const DEFAULT_NVIDIA_SMI = 'nvidia-smi';

function snippet(s: string): string {
  const t = s.trim().replace(/\s+/g, ' ');
  return t.length > 300 ? `${t.slice(0, 300)}…` : t;
}

/** Runs the query and resolves with stdout; rejects with NvidiaSmiError. */
export function runNvidiaSmi(opts: NvidiaSmiRunOptions = {}): Promise<string> {
  const bin = opts.bin ?? DEFAULT_NVIDIA_SMI;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxBytes = opts.maxOutputBytes ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    let settled = false;
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    const child = spawn(bin, [...NVIDIA_SMI_ARGS], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
    };
    const fail = (e: NvidiaSmiError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e);
    };
    const timer = setTimeout(() => {
      killGroup();
      fail(new NvidiaSmiError({ reason: 'timeout' }, `${bin} did not finish within ${timeoutMs} ms (hung driver?); killed`));
    }, timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > maxBytes) {
        killGroup();
        fail(new NvidiaSmiError({ reason: 'output_too_large' }, `${bin} printed more than ${maxBytes} bytes`));
        return;
      }
      out.push(d);
    });
    child.stderr!.on('data', (d: Buffer) => {
      err = (err + d.toString('utf8')).slice(-4000);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') {
        fail(new NvidiaSmiError({ reason: 'not_found' }, `${bin} not found (is the NVIDIA driver installed? pass --nvidia-smi PATH)`, { cause: e }));
      } else if (e.code === 'EACCES') {
        fail(new NvidiaSmiError({ reason: 'not_executable' }, `${bin} is not executable`, { cause: e }));
      } else {
        fail(new NvidiaSmiError({ reason: 'spawn_failed' }, `cannot run ${bin}: ${e.message}`, { cause: e }));
      }
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) {
        settled = true;
        clearTimeout(timer);
        resolve(stdout);
        return;
      }
      const said = snippet(`${stdout}\n${err}`);
      if (/no devices were found/i.test(said)) {
        fail(new NvidiaSmiError({ reason: 'no_gpus', raw: said }, `${bin} found no GPUs: ${said}`));
        return;
      }
      const how = signal !== null ? `was killed by ${signal}` : `exited with status ${code}`;
      fail(new NvidiaSmiError({ reason: 'exit_status', raw: said }, `${bin} ${how}${said === '' ? '' : `: ${said}`}`));
    });
  });
}

/** Runs nvidia-smi and parses its output (see parseNvidiaSmiCsv). */
export async function sampleNvidiaSmi(opts: NvidiaSmiRunOptions = {}): Promise<NvidiaSmiSample> {
  return parseNvidiaSmiCsv(await runNvidiaSmi(opts));
}
