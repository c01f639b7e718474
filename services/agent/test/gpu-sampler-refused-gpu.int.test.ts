/**
 * One GPU whose events the chain would refuse must not stop the node's
 * sampling. Before: a GPU name with a control character (odd nvidia-smi
 * output: a garbled vGPU or driver string) passed the parser, the agent's
 * validation refused its device_registered synchronously, and the whole
 * sample threw: no metrics_collected for ANY GPU of the node, the GPUs
 * listed before it registered again at every sample, and the CLI's first
 * sample exited 1 (a crash loop under a supervisor). docs/agent.md: an
 * unreadable GPU is that GPU's error, sampling goes on. Now the parser
 * refuses such a name (that line's identity error), and any event of one GPU
 * that its sink refuses is that GPU's error. Real nats-server and agent, a
 * fake nvidia-smi script.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useNatsServer } from '@hwledger/testkit';
import { Agent, GpuSampler, type Acceptance } from '@hwledger/agent';
import type { ChainEvent } from '@hwledger/chain';
import { fixture, ingestEvents, readFixture } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'hwl-refused-gpu-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('a GPU whose events would be refused', () => {
  const nats = useNatsServer();

  it('a control character in one GPU name: that line is an error, the other GPUs keep their metrics and are registered once', async () => {
    const chainId = 'smi-odd-name';
    const stateDir = join(tmp, 'state');
    const smiDir = join(tmp, 'smi');
    mkdirSync(smiDir, { recursive: true });
    const lines = readFixture('h100x8.csv').split('\n').filter((l) => l.trim() !== '');
    const cols = lines[2]!.split(',');
    cols[2] = ' NVIDIA H100 80GB HBM3\u0007'; // BEL inside the name; trim() keeps it
    lines[2] = cols.join(',');
    writeFileSync(join(smiDir, 'output.csv'), lines.join('\n') + '\n');
    const bin = join(smiDir, 'nvidia-smi');
    writeFileSync(bin, `#!/bin/sh\n. "${fixture('check-args.sh')}"\ncat "${join(smiDir, 'output.csv')}"\n`);
    chmodSync(bin, 0o755);

    const agent = await Agent.open({ chainId, node: 'gpu-odd', natsUrl: nats.url, outboxDir: stateDir });
    const sampler = new GpuSampler({ sink: agent, bin, hostname: 'gpu-odd.example', stateDir });
    const outcomes: string[] = [];
    for (let i = 0; i < 2; i++) {
      try {
        const r = await sampler.sampleOnce();
        outcomes.push(`ok metrics=${r.metrics}`);
      } catch (e) {
        outcomes.push(`threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
    }
    await agent.drained(5_000);
    await agent.stop();
    const events = await ingestEvents(nats.nc, chainId);
    const metrics = events.filter((e) => e.kind === 'metrics_collected');
    const regs = events.filter((e) => e.kind === 'device_registered');
    // 7 readable GPUs per sample, 2 samples; each readable GPU registered once.
    const regsPerGpu = new Map<string, number>();
    for (const r of regs) regsPerGpu.set(r.instanceId, (regsPerGpu.get(r.instanceId) ?? 0) + 1);
    expect({ outcomes, metrics: metrics.length, registrations: regs.length, maxRegistrationsOfOneGpu: Math.max(0, ...regsPerGpu.values()) }).toEqual({
      outcomes: ['ok metrics=7', 'ok metrics=7'],
      metrics: 14,
      registrations: 7,
      maxRegistrationsOfOneGpu: 1,
    });
  }, 30_000);

  it('an event of one GPU that the sink refuses is that GPU\'s error: the others are registered and sampled', async () => {
    const chainId = 'smi-refused';
    const stateDir = join(tmp, 'state-refused');
    const agent = await Agent.open({ chainId, node: 'gpu-refused', natsUrl: nats.url, outboxDir: stateDir });
    // A sink with a stricter rule than the agent's (it refuses, synchronously, every event of one GPU).
    const bad = 'GPU-5a9f1e5e-5bd8-4ac1-a3b1-61e3b8f2c302';
    const sink = {
      source: agent.source,
      submit(e: ChainEvent): Promise<Acceptance> {
        if ((e.data as { device_id?: string }).device_id === bad) throw new RangeError('refused by the sink');
        return agent.submit(e);
      },
    };
    const all = readFixture('h100x8.csv').split('\n').filter((l) => l.trim() !== '');
    const lines = [...all.slice(0, 3), all[3]!.replace(/GPU-[0-9a-f-]+/, bad)];
    const smiDir = join(tmp, 'smi-refused');
    mkdirSync(smiDir, { recursive: true });
    writeFileSync(join(smiDir, 'output.csv'), lines.join('\n') + '\n');
    const bin = join(smiDir, 'nvidia-smi');
    writeFileSync(bin, `#!/bin/sh\n. "${fixture('check-args.sh')}"\ncat "${join(smiDir, 'output.csv')}"\n`);
    chmodSync(bin, 0o755);
    const sampler = new GpuSampler({ sink, bin, hostname: 'gpu-refused.example', stateDir });
    const r = await sampler.sampleOnce();
    expect({ registered: r.registered, metrics: r.metrics }).toEqual({ registered: 3, metrics: 3 });
    expect(r.errors.map((e) => [e.reason, e.gpuUuid])).toEqual([['invalid_value', bad]]);
    expect(r.errors[0]!.message).toMatch(/its event was refused \(refused by the sink\); no events are emitted for this GPU/);
    await agent.drained(5_000);
    await agent.stop();
    const events = await ingestEvents(nats.nc, chainId);
    expect(events.filter((e) => e.kind === 'metrics_collected')).toHaveLength(3);
    expect(events.some((e) => (e.data as { device_id?: string }).device_id === bad)).toBe(false);
  }, 30_000);

  it('a hostname the chain would refuse is a CONFIG error when the sampler is made, not an error at every sample', () => {
    const sink = { source: 'x/y', submit: (): Promise<Acceptance> => Promise.reject(new Error('unused')) };
    expect(() => new GpuSampler({ sink, hostname: 'node\u0007-1' })).toThrow(expect.objectContaining({ code: 'CONFIG' }));
    expect(() => new GpuSampler({ sink, hostname: '' })).toThrow(expect.objectContaining({ code: 'CONFIG' }));
  });
});
