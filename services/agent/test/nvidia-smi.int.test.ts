/**
 * nvidia-smi through its configurable binary path: fake nvidia-smi scripts
 * (test/fixtures/fake-nvidia-smi-*.sh) that print a recorded output, fail
 * like a missing driver, or hang; a missing binary. Then the sampler end to
 * end into a real ingest stream. No real GPU is available to this suite (see
 * docs/agent.md): on a GPU host, `hwledger agent --samples 1` is the check.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { TestNatsServer, waitFor } from '@hwledger/testkit';
import { Agent, GpuSampler, NvidiaSmiError, runNvidiaSmi, sampleNvidiaSmi } from '@hwledger/agent';
import { fixture, ingestEvents, readFixture } from './helpers.js';

async function failure(p: Promise<unknown>): Promise<NvidiaSmiError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(NvidiaSmiError);
    return e as NvidiaSmiError;
  }
  throw new Error('expected an NvidiaSmiError');
}

describe('running nvidia-smi', () => {
  it('passes exactly the documented query and parses what the binary prints', async () => {
    expect(await runNvidiaSmi({ bin: fixture('fake-nvidia-smi-h100x8.sh') })).toBe(readFixture('h100x8.csv'));
    const s = await sampleNvidiaSmi({ bin: fixture('fake-nvidia-smi-h100x8.sh') });
    expect(s.gpus).toHaveLength(8);
  });

  it('a missing binary (ENOENT) is NVIDIA_SMI not_found', async () => {
    const e = await failure(runNvidiaSmi({ bin: '/nonexistent/nvidia-smi' }));
    expect(e).toMatchObject({ code: 'NVIDIA_SMI', reason: 'not_found' });
    expect(e.message).toContain('/nonexistent/nvidia-smi not found');
  });

  it('a file that is not executable is not_executable', async () => {
    expect(await failure(runNvidiaSmi({ bin: fixture('h100x8.csv') }))).toMatchObject({ reason: 'not_executable' });
  });

  it('a non-zero exit (driver not loaded) is exit_status with what nvidia-smi said', async () => {
    const e = await failure(runNvidiaSmi({ bin: fixture('fake-nvidia-smi-no-driver.sh') }));
    expect(e).toMatchObject({ reason: 'exit_status' });
    expect(e.message).toMatch(/exited with status 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/);
  });

  it('"No devices were found" (exit 6) is no_gpus', async () => {
    expect(await failure(runNvidiaSmi({ bin: fixture('fake-nvidia-smi-no-devices.sh') }))).toMatchObject({ reason: 'no_gpus' });
  });

  it('a hang is killed after the timeout, with its children (no pipe held open)', async () => {
    const t0 = Date.now();
    const e = await failure(runNvidiaSmi({ bin: fixture('fake-nvidia-smi-hang.sh'), timeoutMs: 300 }));
    expect(e).toMatchObject({ reason: 'timeout' });
    expect(Date.now() - t0).toBeLessThan(3_000);
    await waitFor(() => !execFileSync('ps', ['-eo', 'args']).toString().split('\n').some((l) => l.trim() === 'sleep 30'), 3_000, 50, 'the hung child to be killed');
  });
});

describe('GpuSampler -> agent -> ingest stream', () => {
  let server: TestNatsServer;
  let nc: NatsConnection;
  const tmp = mkdtempSync(join(tmpdir(), 'hwl-agent-smi-'));
  beforeAll(async () => {
    server = await TestNatsServer.start();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('registers each GPU once (remembered across restarts), metrics per GPU per sample, never a zero for [N/A]', async () => {
    const chainId = 'smi';
    const stateDir = join(tmp, 'state');
    const registry = new Registry();
    let agent = await Agent.open({ chainId, node: 'gpu-7', natsUrl: server.url, outboxDir: stateDir, registry });
    let sampler = new GpuSampler({ sink: agent, bin: fixture('fake-nvidia-smi-na-power.sh'), hostname: 'gpu-7.example', stateDir, registry: agent.registry });
    const r1 = await sampler.sampleOnce();
    const r2 = await sampler.sampleOnce();
    expect([r1.registered, r1.metrics, r2.registered, r2.metrics]).toEqual([2, 1, 0, 1]);
    expect(r1.errors.map((e) => [e.reason, e.field, e.gpuIndex])).toEqual([['not_available', 'power.draw', '1']]);
    expect(await registry.getSingleMetricAsString('hwl_agent_nvidia_smi_errors_total')).toContain('hwl_agent_nvidia_smi_errors_total{reason="not_available"} 2');
    await agent.stop();
    // restart: the devices are known; only metrics
    agent = await Agent.open({ chainId, node: 'gpu-7', natsUrl: server.url, outboxDir: stateDir });
    sampler = new GpuSampler({ sink: agent, bin: fixture('fake-nvidia-smi-na-power.sh'), hostname: 'gpu-7.example', stateDir });
    expect((await sampler.sampleOnce()).registered).toBe(0);
    await agent.stop();

    const events = await ingestEvents(nc, chainId);
    expect(events.map((e) => e.kind)).toEqual(['device_registered', 'device_registered', 'metrics_collected', 'metrics_collected', 'metrics_collected']);
    expect(events[0]).toMatchObject({
      source: 'smi/gpu-7',
      tenant: '',
      instanceId: 'GPU-2a8d4f60-b3c1-9e75-0d2a-6f1b84c3e9d7',
      data: { device_id: 'GPU-2a8d4f60-b3c1-9e75-0d2a-6f1b84c3e9d7', hostname: 'gpu-7.example', device_type: 'NVIDIA A100 80GB PCIe', vram_total_mib: 81920n },
    });
    expect(events[1]!.instanceId).toBe('GPU-b7e31c09-4d6a-2f80-c5e9-a13d7b0f4628');
    // metrics only for GPU 0, whose power reads 98.26 W; GPU 1's [N/A] never becomes 0 mW
    for (const e of events.slice(2)) {
      expect(e).toMatchObject({ kind: 'metrics_collected', instanceId: 'GPU-2a8d4f60-b3c1-9e75-0d2a-6f1b84c3e9d7', data: { power_mw: 98_260, temperature_mc: 44_000, utilization_pct: 23, vram_used_mib: 12003n } });
    }
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
  });

  it('a failing sample rejects with the typed error and emits nothing', async () => {
    const chainId = 'smi-fail';
    const agent = await Agent.open({ chainId, node: 'n', natsUrl: server.url, outboxDir: join(tmp, 'fail') });
    const sampler = new GpuSampler({ sink: agent, bin: '/nonexistent/nvidia-smi' });
    await expect(sampler.sampleOnce()).rejects.toMatchObject({ code: 'NVIDIA_SMI', reason: 'not_found' });
    const fallen = new GpuSampler({ sink: agent, bin: fixture('fake-nvidia-smi-fallen-off-bus.sh') });
    await expect(fallen.sampleOnce()).rejects.toMatchObject({ code: 'NVIDIA_SMI', reason: 'unknown_error', field: 'uuid' });
    await agent.stop();
    expect(agent.stats().accepted).toEqual({ jetstream: 0, outbox: 0 });
  });
});
