/**
 * Odd numbers must become clear errors, never zeros or impossible values: a
 * negative power reading scaled to 0 mW (-0.0004 W rounds to -0, which is 0),
 * and more memory used than the GPU has went onto the chain (found by a
 * review helper).
 */
import { describe, expect, it } from 'vitest';
import { parseNvidiaSmiCsv } from '@hwledger/agent';

const line = (power: string, used = '64213', total = '81559'): string =>
  `0, GPU-5b0d5a3e-6f1c-8e2b-27a4-9c1d3f0e7b21, NVIDIA H100 80GB HBM3, ${used}, ${total}, 97, 71, ${power}\n`;

describe('nvidia-smi value ranges', () => {
  it('a negative power reading is an error, not 0 mW', () => {
    for (const p of ['-0.0004', '-0', '-0.00']) {
      const m = parseNvidiaSmiCsv(line(p)).gpus[0]!.metrics;
      expect(m, `power.draw ${p}`).toBeInstanceOf(Error);
    }
  });

  it('memory.used above memory.total is an error, not a metrics_collected with used > total', () => {
    const m = parseNvidiaSmiCsv(line('612.34', '99999', '81559')).gpus[0]!.metrics;
    expect(m).toBeInstanceOf(Error);
  });
});
