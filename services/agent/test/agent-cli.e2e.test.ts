/**
 * `hwledger agent` as a process (needs the build: npx tsc -b packages/cli):
 * deterministic simulation into the ingest stream, kill -9 with a non-empty
 * outbox and restart (nothing accepted lost, nothing stored twice), the
 * nvidia-smi mode with a fake binary and a missing one, and SIGTERM shutdown
 * with the scheduler hook serving.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { eventToJson, type ChainEvent } from '@hwledger/chain';
import { decodeIngestBatch } from '@hwledger/proto';
import { freePort, runCli, spawnCli, TestNatsServer, waitFor } from '@hwledger/testkit';
import { HookClient, Outbox, simulateFleet } from '@hwledger/agent';
import { duplicates, fixture, ingestEvents, key, readIngest } from './helpers.js';

const START = 1_795_000_000_000;
let server: TestNatsServer;
let nc: NatsConnection;
const tmp = mkdtempSync(join(tmpdir(), 'hwl-agent-e2e-'));
const procs: ChildProcess[] = [];

beforeAll(async () => {
  server = await TestNatsServer.start();
  nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
});
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await nc?.close();
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const exited = (p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
  p.exitCode !== null || p.signalCode !== null ? Promise.resolve({ code: p.exitCode, signal: p.signalCode }) : new Promise((r) => p.once('exit', (code, signal) => r({ code, signal })));

function collect(p: ChildProcess): { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  return { out: () => out, err: () => err };
}

const pendingEvents = async (dir: string): Promise<ChainEvent[]> =>
  (await Outbox.readPending(dir)).flatMap((e) => decodeIngestBatch(e.body).events.map((r) => (r.ok ? r.event : (undefined as never))));

describe('hwledger agent (process)', () => {
  it('--simulate --seed --start-ms --count: exactly the library generator\'s events, in order', async () => {
    const r = await runCli(['agent', '--nats', server.url, '--chain', 'cli-sim', '--node', 'rack', '--simulate', '--seed', '9', '--start-ms', String(START), '--count', '3000', '--rate', '0', '--nodes', '3', '--gpus', '2', '--tenants', '6', '--outbox', join(tmp, 'sim')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^accepted 3000 \(jetstream \d+, outbox \d+\); published 3000; refused 0; outbox depth 0$/m);
    const got = await ingestEvents(nc, 'cli-sim');
    const want = [...simulateFleet({ source: 'cli-sim/rack', seed: 9, startMs: START, count: 3000, nodes: 3, gpusPerNode: 2, tenants: 6, nodePrefix: 'rack', eventsPerSecond: 100 })];
    expect(got.map((e) => JSON.stringify(eventToJson(e)))).toEqual(want.map((e) => JSON.stringify(eventToJson(e))));
  });

  it('kill -9 with a non-empty outbox, even mid-flush: after restart every event it held is in the stream exactly once, in order', async () => {
    const chainId = 'cli-crash';
    const dir = join(tmp, 'crash-outbox');
    await server.kill(); // NATS down: everything goes to the outbox
    const args = ['agent', '--nats', server.url, '--chain', chainId, '--node', 'edge', '--outbox', dir];
    const producer = spawnCli([...args, '--simulate', '--seed', '21', '--start-ms', String(START), '--rate', '4000', '--batch-max-delay-ms', '1']);
    procs.push(producer);
    const out = collect(producer);
    await waitFor(async () => (await Outbox.readPending(dir)).reduce((n, e) => n + e.events, 0) >= 4000, 60_000, 100, `outbox to fill: ${out.err().slice(-500)}`);
    producer.kill('SIGKILL');
    expect((await exited(producer)).signal).toBe('SIGKILL');
    const held = await pendingEvents(dir);
    expect(held.length).toBeGreaterThanOrEqual(4000);
    // The outbox holds a prefix of the deterministic simulation, in order.
    const sim = simulateFleet({ source: `${chainId}/edge`, seed: 21, startMs: START, nodePrefix: 'edge', eventsPerSecond: 4000 });
    expect(held.map(key)).toEqual(held.map(() => key(sim.next().value!)));

    await server.restart();
    // First restart is killed as soon as it has flushed something (mid-flush crash).
    const flusher = spawnCli([...args, '--drain-only', '--drain-timeout-ms', '60000']);
    procs.push(flusher);
    await waitFor(async () => (await readIngest(nc, chainId).catch(() => [])).length > 0, 60_000, 5, 'the flush to start');
    flusher.kill('SIGKILL');
    await exited(flusher);
    // Second restart finishes the job.
    const r = await runCli([...args, '--drain-only', '--drain-timeout-ms', '60000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/outbox depth 0$/m);
    const got = (await ingestEvents(nc, chainId)).map(key);
    expect(duplicates(got)).toEqual([]);
    expect(got).toEqual(held.map(key));
    expect(await Outbox.readPending(dir)).toEqual([]);
  });

  it('nvidia-smi mode: a fake 8-GPU nvidia-smi -> 8 registrations then 8 metrics per sample; a missing binary fails fast, naming it', async () => {
    const dir = join(tmp, 'smi');
    const base = ['agent', '--nats', server.url, '--chain', 'cli-smi', '--node', 'gpu-box', '--outbox', dir, '--nvidia-smi', fixture('fake-nvidia-smi-h100x8.sh'), '--interval', '200'];
    const r = await runCli([...base, '--samples', '3']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^accepted 32 /m);
    const again = await runCli([...base, '--samples', '1']); // devices.json: no second registration
    expect(again.code, again.stderr).toBe(0);
    const events = await ingestEvents(nc, 'cli-smi');
    expect(events.map((e) => e.kind)).toEqual([...Array(8).fill('device_registered'), ...Array(32).fill('metrics_collected')]);
    expect(events.every((e) => e.source === 'cli-smi/gpu-box')).toBe(true);
    expect(events.find((e) => e.kind === 'metrics_collected')).toMatchObject({ instanceId: 'GPU-8f3c2a71-94d0-2b6e-5c1f-0a7e93b4d218', data: { power_mw: 688_910, temperature_mc: 74_000 } });

    const missing = await runCli(['agent', '--nats', server.url, '--chain', 'cli-smi-missing', '--node', 'n', '--outbox', join(tmp, 'missing'), '--nvidia-smi', '/nonexistent/nvidia-smi']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/hwledger: NVIDIA_SMI: \/nonexistent\/nvidia-smi not found/);
    expect(missing.stdout).toMatch(/^accepted 0 /m);
    const noDriver = await runCli(['agent', '--nats', server.url, '--chain', 'cli-smi-missing', '--node', 'n', '--outbox', join(tmp, 'missing'), '--nvidia-smi', fixture('fake-nvidia-smi-no-driver.sh')]);
    expect(noDriver.code).toBe(1);
    expect(noDriver.stderr).toMatch(/NVIDIA_SMI: .*exited with status 9: NVIDIA-SMI has failed/);
  });

  it('SIGTERM: stops producing, ships everything taken and exits 0; what it reports accepted is in the stream', async () => {
    const chainId = 'cli-term';
    const port = await freePort();
    const p = spawnCli(['agent', '--nats', server.url, '--chain', chainId, '--node', 'svc', '--outbox', join(tmp, 'term'), '--simulate', '--rate', '500', '--hook-port', String(port)]);
    procs.push(p);
    const out = collect(p);
    const client = new HookClient(`http://127.0.0.1:${port}`);
    await waitFor(async () => (await client.healthz().catch(() => undefined))?.nats === 'connected', 30_000, 50, `hook up: ${out.err().slice(-500)}`);
    const receipt = await client.inferenceCompleted({ tenant_id: 'acme', request_id: 'via-hook', total_tokens: 3, compute_ms: 4n, reason: 'cancelled' });
    expect(receipt.stored).toBe('jetstream');
    await waitFor(async () => (await readIngest(nc, chainId).catch(() => [])).length > 5, 30_000, 50, 'some events published');
    p.kill('SIGTERM');
    const { code } = await exited(p);
    expect(code, out.err().slice(-2000)).toBe(0);
    const m = /^accepted (\d+) .*outbox depth 0$/m.exec(out.out());
    expect(m, out.out()).not.toBeNull();
    const events = await ingestEvents(nc, chainId);
    expect(events).toHaveLength(Number(m![1]));
    expect(duplicates(events.map(key))).toEqual([]);
    expect(events.some((e) => e.instanceId === 'inference:request_completed:via-hook')).toBe(true);
  });
});
