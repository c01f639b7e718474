/**
 * `hwledger agent --samples N` gets SIGTERM between samples (needs the build:
 * npx tsc -b packages/cli). docs/agent.md, Running: on SIGTERM the agent
 * "stops producing", ships what it took and exits. It must not go on
 * sampling until the N samples are done (N x --interval later: far past any
 * supervisor's grace period, which then kills it).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCli, useNatsServer, waitFor } from '@hwledger/testkit';
import { fixture, ingestEvents } from './helpers.js';

const nats = useNatsServer();
const tmp = mkdtempSync(join(tmpdir(), 'hwl-agent-samples-term-'));
const procs: ChildProcess[] = [];
afterAll(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

describe('hwledger agent --samples (process)', () => {
  it('SIGTERM after the first of 5 samples (interval 60 s): exits 0 promptly, having stored only that sample', async () => {
    const chainId = 'cli-samples-term';
    const p = spawnCli(['agent', '--nats', nats.url, '--chain', chainId, '--node', 'gpu-box', '--outbox', join(tmp, 'ob'), '--nvidia-smi', fixture('fake-nvidia-smi-h100x8.sh'), '--interval', '60000', '--samples', '5']);
    procs.push(p);
    let out = '';
    let err = '';
    p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
    await waitFor(async () => (await ingestEvents(nats.nc, chainId).catch(() => [])).length >= 16, 30_000, 100, `first sample stored: ${err.slice(-500)}`);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.once('exit', (code, signal) => r({ code, signal })));
    const t0 = Date.now();
    p.kill('SIGTERM');
    const res = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
    expect(res, `still running ${Date.now() - t0} ms after SIGTERM; stderr: ${err.slice(-1000)}`).toEqual({ code: 0, signal: null });
    expect(out).toMatch(/^accepted 16 .*outbox depth 0$/m);
    expect(await ingestEvents(nats.nc, chainId)).toHaveLength(16);
  }, 60_000);
});
