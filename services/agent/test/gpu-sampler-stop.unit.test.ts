/**
 * GpuSampler.start({ max, onDone }) then stop() before the max samples are
 * done: the run is over, so onDone is called. A caller that waits for onDone
 * (the CLI's --samples N) is otherwise left waiting forever after a SIGTERM.
 */
import { describe, expect, it } from 'vitest';
import type { ChainEvent } from '@hwledger/chain';
import { GpuSampler, type Acceptance } from '@hwledger/agent';
import { fixture } from './helpers.js';

const sink = { source: 'c/n', submit: (_e: ChainEvent): Promise<Acceptance> => Promise.resolve({ stored: 'jetstream', duplicate: false }) };

describe('GpuSampler.stop', () => {
  it('settles the onDone of a run stopped before its max samples', async () => {
    const s = new GpuSampler({ sink, bin: fixture('fake-nvidia-smi-h100x8.sh'), intervalMs: 60_000 });
    let done = 0;
    s.start({ delayFirst: true, max: 4, onDone: () => done++ });
    await s.stop();
    expect(done).toBe(1);
    await s.stop(); // idempotent: not called twice
    expect(done).toBe(1);
  });

  it('settles it once when stopped during a sample, and not again after a run that completed', async () => {
    const s = new GpuSampler({ sink, bin: fixture('fake-nvidia-smi-h100x8.sh'), intervalMs: 60_000 });
    let done = 0;
    s.start({ max: 3, onDone: () => done++ }); // first sample runs now
    await s.stop();
    expect(done).toBe(1);

    const t = new GpuSampler({ sink, bin: fixture('fake-nvidia-smi-h100x8.sh'), intervalMs: 100 });
    let finished = 0;
    await new Promise<void>((r) => t.start({ max: 2, onDone: () => (finished++, r()) }));
    await t.stop();
    expect(finished).toBe(1);
  });
});
