/**
 * nvidia-smi through its configurable binary path: fake nvidia-smi scripts
 * (test/fixtures/fake-nvidia-smi-*.sh) that print a recorded output, fail
 * like a missing driver, or hang; a missing binary. Then the sampler end to
 * end into a real ingest stream. No real GPU is available to this suite (see
 * docs/agent.md): on a GPU host, `hwledger agent --samples 1` is the check.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Logger } from '@hwledger/core';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { Agent, GpuSampler, NvidiaSmiError, runNvidiaSmi, sampleNvidiaSmi } from '@hwledger/agent';
import { fixture, ingestEvents, readFixture } from './helpers.js';

/**
 * A fake nvidia-smi whose output the test swaps between runs: it checks the
 * arguments like the other fakes and prints `<dir>/output.csv`.
 */
function switchableNvidiaSmi(dir: string): { bin: string; print: (csv: string) => void } {
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, 'nvidia-smi');
  writeFileSync(bin, `#!/bin/sh\n. "${fixture('check-args.sh')}"\ncat "${join(dir, 'output.csv')}"\n`);
  chmodSync(bin, 0o755);
  return { bin, print: (csv) => writeFileSync(join(dir, 'output.csv'), csv) };
}

/** A pino logger that keeps its lines (level as a name, message as `msg`). */
function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug', formatters: { level: (label) => ({ level: label }) } }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

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
  const nats = useNatsServer();
  const tmp = mkdtempSync(join(tmpdir(), 'hwl-agent-smi-'));
  afterAll(async () => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('registers each GPU once (remembered across restarts), metrics per GPU per sample, never a zero for [N/A]', async () => {
    const chainId = 'smi';
    const stateDir = join(tmp, 'state');
    const registry = new Registry();
    let agent = await Agent.open({ chainId, node: 'gpu-7', natsUrl: nats.url, outboxDir: stateDir, registry });
    let sampler = new GpuSampler({ sink: agent, bin: fixture('fake-nvidia-smi-na-power.sh'), hostname: 'gpu-7.example', stateDir, registry: agent.registry });
    const r1 = await sampler.sampleOnce();
    const r2 = await sampler.sampleOnce();
    expect([r1.registered, r1.metrics, r2.registered, r2.metrics]).toEqual([2, 1, 0, 1]);
    expect(r1.errors.map((e) => [e.reason, e.field, e.gpuIndex])).toEqual([['not_available', 'power.draw', '1']]);
    expect(await registry.getSingleMetricAsString('hwl_agent_nvidia_smi_errors_total')).toContain('hwl_agent_nvidia_smi_errors_total{reason="not_available"} 2');
    await agent.stop();
    // restart: the devices are known; only metrics
    agent = await Agent.open({ chainId, node: 'gpu-7', natsUrl: nats.url, outboxDir: stateDir });
    sampler = new GpuSampler({ sink: agent, bin: fixture('fake-nvidia-smi-na-power.sh'), hostname: 'gpu-7.example', stateDir });
    expect((await sampler.sampleOnce()).registered).toBe(0);
    await agent.stop();

    const events = await ingestEvents(nats.nc, chainId);
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

  it('a registered GPU that disappears from the output is a gpu_missing error each sample (never zeros), logged, counted, gauged; its return is logged', async () => {
    const chainId = 'smi-missing';
    const stateDir = join(tmp, 'missing');
    const smi = switchableNvidiaSmi(join(tmp, 'missing-smi'));
    const all = readFixture('h100x8.csv');
    const lines = all.split('\n');
    const gpu2 = 'GPU-c4a98e12-5f37-d0b6-81e2-9b3f60a7c4d5';
    const gpu5 = 'GPU-39d1f6b4-a07e-8c23-5b9d-1e4c72f0a836';
    const without = (uuid: string): string => lines.filter((l) => !l.includes(uuid)).join('\n');
    expect(without(gpu2)).not.toBe(all);
    const registry = new Registry();
    const { logger, lines: logs } = capturingLogger();
    let agent = await Agent.open({ chainId, node: 'gpu-8', natsUrl: nats.url, outboxDir: stateDir });
    let sampler = new GpuSampler({ sink: agent, bin: smi.bin, hostname: 'gpu-8.example', stateDir, registry, logger });
    const counter = async (): Promise<string> => (await registry.getSingleMetricAsString('hwl_agent_nvidia_smi_errors_total')).split('\n').filter((l) => l.includes('gpu_missing')).join('\n');
    const gauge = async (): Promise<string> => (await registry.getSingleMetricAsString('hwl_agent_gpus_missing')).split('\n').filter((l) => !l.startsWith('#')).join('\n');

    smi.print(all);
    const r1 = await sampler.sampleOnce();
    expect([r1.registered, r1.metrics, r1.errors.length]).toEqual([8, 8, 0]);
    expect(await gauge()).toBe('hwl_agent_gpus_missing 0');

    // GPU 2 falls off the bus: nvidia-smi no longer lists it (its line is gone, not [N/A])
    smi.print(without(gpu2));
    const r2 = await sampler.sampleOnce();
    expect([r2.registered, r2.metrics]).toEqual([0, 7]);
    expect(r2.errors).toHaveLength(1);
    expect(r2.errors[0]).toBeInstanceOf(NvidiaSmiError);
    expect(r2.errors[0]).toMatchObject({ code: 'NVIDIA_SMI', reason: 'gpu_missing', gpuUuid: gpu2, gpuIndex: '2', gpuName: 'NVIDIA H100 80GB HBM3' });
    expect(r2.errors[0]!.message).toMatch(/GPU 2 GPU-c4a98e12-5f37-d0b6-81e2-9b3f60a7c4d5 \(NVIDIA H100 80GB HBM3\).*missing from nvidia-smi's output/);
    expect(r2.missing).toEqual([gpu2]);
    expect(await counter()).toBe('hwl_agent_nvidia_smi_errors_total{reason="gpu_missing"} 1');
    expect(await gauge()).toBe('hwl_agent_gpus_missing 1');
    const warned = logs.filter((l) => l['reason'] === 'gpu_missing');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ level: 'warn', uuid: gpu2, gpu: '2', name: 'NVIDIA H100 80GB HBM3' });

    // still missing: an error every sample (counted), the warning once per disappearance
    const r3 = await sampler.sampleOnce();
    expect(r3.errors.map((e) => [e.reason, e.gpuUuid])).toEqual([['gpu_missing', gpu2]]);
    expect(await counter()).toBe('hwl_agent_nvidia_smi_errors_total{reason="gpu_missing"} 2');
    expect(logs.filter((l) => l['reason'] === 'gpu_missing').map((l) => l['level'])).toEqual(['warn', 'debug']);

    // back: metrics again, no re-registration, the return logged
    smi.print(all);
    const r4 = await sampler.sampleOnce();
    expect([r4.registered, r4.metrics, r4.errors.length]).toEqual([0, 8, 0]);
    expect(r4.missing).toEqual([]);
    expect(r4.returned).toEqual([gpu2]);
    expect(await gauge()).toBe('hwl_agent_gpus_missing 0');
    expect(logs.find((l) => typeof l['msg'] === 'string' && (l['msg'] as string).includes('back'))).toMatchObject({ level: 'info', uuid: gpu2, gpu: '2', missingSamples: 2 });

    // gone again later: warned again (a new disappearance)
    smi.print(without(gpu2));
    expect((await sampler.sampleOnce()).errors.map((e) => e.reason)).toEqual(['gpu_missing']);
    expect(logs.filter((l) => l['reason'] === 'gpu_missing').map((l) => l['level'])).toEqual(['warn', 'debug', 'warn']);
    await agent.stop();

    // restart: the registrations in devices.json are what the sampler expects, so a GPU
    // missing from the very first sample is reported, with its last-seen index and name
    agent = await Agent.open({ chainId, node: 'gpu-8', natsUrl: nats.url, outboxDir: stateDir });
    sampler = new GpuSampler({ sink: agent, bin: smi.bin, hostname: 'gpu-8.example', stateDir });
    smi.print(without(gpu5));
    const r6 = await sampler.sampleOnce();
    expect([r6.registered, r6.metrics]).toEqual([0, 7]);
    expect(r6.errors.map((e) => [e.reason, e.gpuUuid, e.gpuIndex, e.gpuName])).toEqual([['gpu_missing', gpu5, '5', 'NVIDIA H100 80GB HBM3']]);
    await agent.stop();

    // on the stream: GPU 2 has metrics only from the samples that listed it (1, 4, 6), GPU 5 from 1-5; nothing is a zero reading
    const events = await ingestEvents(nats.nc, chainId);
    expect(events.filter((e) => e.kind === 'device_registered')).toHaveLength(8);
    const metrics = events.filter((e) => e.kind === 'metrics_collected');
    expect(metrics).toHaveLength(8 + 7 + 7 + 8 + 7 + 7);
    expect(metrics.filter((e) => e.instanceId === gpu2)).toHaveLength(3);
    expect(metrics.filter((e) => e.instanceId === gpu5)).toHaveLength(5);
    for (const m of metrics) if (m.kind === 'metrics_collected') expect(m.data.power_mw).toBeGreaterThan(0);
  });

  it('gpu_missing with a devices.json written before indexes were recorded: no index until the GPU is seen, then remembered', async () => {
    const chainId = 'smi-missing-old-state';
    const stateDir = join(tmp, 'missing-old-state');
    mkdirSync(stateDir, { recursive: true });
    const smi = switchableNvidiaSmi(join(tmp, 'missing-old-state-smi'));
    const [line0, line1] = readFixture('na-power.csv').split('\n');
    const gpu0 = 'GPU-2a8d4f60-b3c1-9e75-0d2a-6f1b84c3e9d7';
    const gpu1 = 'GPU-b7e31c09-4d6a-2f80-c5e9-a13d7b0f4628';
    const entry = { device_type: 'NVIDIA A100 80GB PCIe', vram_total_mib: '81920', hostname: 'gpu-9.example' };
    writeFileSync(join(stateDir, 'devices.json'), JSON.stringify({ [gpu0]: entry, [gpu1]: entry }));
    const open = async (): Promise<{ agent: Agent; sampler: GpuSampler }> => {
      const agent = await Agent.open({ chainId, node: 'gpu-9', natsUrl: nats.url, outboxDir: stateDir });
      return { agent, sampler: new GpuSampler({ sink: agent, bin: smi.bin, hostname: 'gpu-9.example', stateDir }) };
    };
    let { agent, sampler } = await open();
    smi.print(`${line0}\n`);
    const r1 = await sampler.sampleOnce();
    expect([r1.registered, r1.metrics]).toEqual([0, 1]);
    expect(r1.errors.map((e) => [e.reason, e.gpuUuid, e.gpuIndex, e.gpuName])).toEqual([['gpu_missing', gpu1, undefined, 'NVIDIA A100 80GB PCIe']]);
    expect(r1.errors[0]!.message).toMatch(/^GPU-b7e31c09-4d6a-2f80-c5e9-a13d7b0f4628 \(NVIDIA A100 80GB PCIe\), registered on this node, is missing/);
    // both listed (GPU 1 with [N/A] power: present, so not missing): the indexes are written to devices.json
    smi.print(`${line0}\n${line1}\n`);
    const r2 = await sampler.sampleOnce();
    expect([r2.registered, r2.missing, r2.returned, r2.errors.map((e) => e.reason)]).toEqual([0, [], [gpu1], ['not_available']]);
    await agent.stop();
    ({ agent, sampler } = await open());
    smi.print(`${line0}\n`);
    expect((await sampler.sampleOnce()).errors.map((e) => [e.reason, e.gpuUuid, e.gpuIndex])).toEqual([['gpu_missing', gpu1, '1']]);
    await agent.stop();
  });

  it('a registered GPU whose line cannot be read (identity field unreadable, uuid readable) is present, not gpu_missing', async () => {
    const chainId = 'smi-unreadable-line';
    const stateDir = join(tmp, 'unreadable-line');
    const smi = switchableNvidiaSmi(join(tmp, 'unreadable-line-smi'));
    const [line0, line1] = readFixture('na-power.csv').split('\n');
    const gpu1 = 'GPU-b7e31c09-4d6a-2f80-c5e9-a13d7b0f4628';
    const agent = await Agent.open({ chainId, node: 'gpu-10', natsUrl: nats.url, outboxDir: stateDir });
    const sampler = new GpuSampler({ sink: agent, bin: smi.bin, hostname: 'gpu-10.example', stateDir });
    smi.print(`${line0}\n${line1}\n`);
    expect((await sampler.sampleOnce()).registered).toBe(2);
    // memory.total of GPU 1 unreadable: its line is an error, the GPU is still there.
    const cols = line1!.split(',');
    cols[4] = ' [Unknown Error]';
    smi.print(`${line0}\n${cols.join(',')}\n`);
    const r = await sampler.sampleOnce();
    expect(r.missing).toEqual([]);
    expect(r.errors.map((e) => e.reason)).not.toContain('gpu_missing');
    expect(r.errors.some((e) => e.gpuUuid === gpu1)).toBe(true);
    await agent.stop();
  });

  it('a failing sample rejects with the typed error and emits nothing', async () => {
    const chainId = 'smi-fail';
    const agent = await Agent.open({ chainId, node: 'n', natsUrl: nats.url, outboxDir: join(tmp, 'fail') });
    const sampler = new GpuSampler({ sink: agent, bin: '/nonexistent/nvidia-smi' });
    await expect(sampler.sampleOnce()).rejects.toMatchObject({ code: 'NVIDIA_SMI', reason: 'not_found' });
    const fallen = new GpuSampler({ sink: agent, bin: fixture('fake-nvidia-smi-fallen-off-bus.sh') });
    // No line readable: the sample fails as no_gpus (the documented alert), its line's own error as the cause.
    const err = (await fallen.sampleOnce().catch((e: unknown) => e)) as NvidiaSmiError;
    expect(err).toMatchObject({ code: 'NVIDIA_SMI', reason: 'no_gpus' });
    expect(err.message).toMatch(/^nvidia-smi printed no readable GPU line \(1 line in error; the first: /);
    expect(err.cause).toMatchObject({ reason: 'unknown_error', field: 'uuid' });
    await agent.stop();
    expect(agent.stats().accepted).toEqual({ jetstream: 0, outbox: 0 });
  });
});
