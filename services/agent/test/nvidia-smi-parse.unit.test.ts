/** nvidia-smi output parsing on recorded outputs (test/fixtures): values exact, unreadable fields typed errors, never zeros. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isNvidiaSmiError, NvidiaSmiError, parseNvidiaSmiCsv, parseScaledDecimal, type GpuMetrics, type GpuReading } from '@hwledger/agent';
import { readFixture } from './helpers.js';

const metricsOf = (g: GpuReading): GpuMetrics => {
  if (isNvidiaSmiError(g.metrics)) throw g.metrics;
  return g.metrics;
};

function errorOf(g: GpuReading): NvidiaSmiError {
  expect(g.metrics).toBeInstanceOf(NvidiaSmiError);
  return g.metrics as NvidiaSmiError;
}

describe('parseNvidiaSmiCsv on recorded outputs', () => {
  it('H100 80GB HBM3: MiB as bigint, °C -> m°C, W -> mW exactly', () => {
    const { gpus, errors } = parseNvidiaSmiCsv(readFixture('h100-single.csv'));
    expect(errors).toEqual([]);
    expect(gpus).toHaveLength(1);
    const g = gpus[0]!;
    expect(g).toMatchObject({ index: 0, uuid: 'GPU-5b0d5a3e-6f1c-8e2b-27a4-9c1d3f0e7b21', name: 'NVIDIA H100 80GB HBM3', memoryTotalMib: 81559n });
    expect(metricsOf(g)).toEqual({ memoryUsedMib: 64213n, memoryTotalMib: 81559n, utilizationPct: 97, temperatureMc: 71_000, powerMw: 612_340 });
  });

  it('an 8-GPU box: eight GPUs in index order, idle ones with real (non-zero) power', () => {
    const { gpus, errors } = parseNvidiaSmiCsv(readFixture('h100x8.csv'));
    expect(errors).toEqual([]);
    expect(gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(gpus.map((g) => g.uuid)).size).toBe(8);
    expect(gpus.map((g) => metricsOf(g).powerMw)).toEqual([688_910, 679_450, 695_020, 699_870, 71_840, 69_120, 312_500, 309_070]);
    expect(metricsOf(gpus[4]!)).toMatchObject({ memoryUsedMib: 4n, utilizationPct: 0, temperatureMc: 33_000 });
  });

  it('A100 40GB and 80GB mixed', () => {
    const { gpus } = parseNvidiaSmiCsv(readFixture('a100-mixed.csv'));
    expect(gpus.map((g) => [g.name, g.memoryTotalMib])).toEqual([
      ['NVIDIA A100-SXM4-80GB', 81920n],
      ['NVIDIA A100-SXM4-80GB', 81920n],
      ['NVIDIA A100-SXM4-40GB', 40960n],
      ['NVIDIA A100-SXM4-40GB', 40960n],
    ]);
    expect(metricsOf(gpus[2]!).powerMw).toBe(352_100);
  });

  it('[N/A] power: the GPU is identified, its metrics are an error naming GPU and field, not 0 W', () => {
    const { gpus, errors } = parseNvidiaSmiCsv(readFixture('na-power.csv'));
    expect(errors).toEqual([]);
    expect(metricsOf(gpus[0]!).powerMw).toBe(98_260);
    const e = errorOf(gpus[1]!);
    expect(e).toMatchObject({ code: 'NVIDIA_SMI', reason: 'not_available', field: 'power.draw', gpuIndex: '1', gpuUuid: 'GPU-b7e31c09-4d6a-2f80-c5e9-a13d7b0f4628', raw: '[N/A]', line: 2 });
    expect(e.message).toContain('power.draw');
    expect(e.message).toContain('GPU 1');
    expect(gpus[1]!.memoryTotalMib).toBe(81920n);
  });

  it('[Not Supported] (vGPU): reason not_supported, first unreadable field named', () => {
    const { gpus } = parseNvidiaSmiCsv(readFixture('not-supported.csv'));
    expect(gpus[0]!.name).toBe('GRID A100D-40C');
    expect(errorOf(gpus[0]!)).toMatchObject({ reason: 'not_supported', field: 'utilization.gpu', raw: '[Not Supported]' });
  });

  it('MIG mode: utilization.gpu [N/A] is an error for that GPU; the other GPU reads fine', () => {
    const { gpus } = parseNvidiaSmiCsv(readFixture('mig.csv'));
    expect(errorOf(gpus[0]!)).toMatchObject({ reason: 'not_available', field: 'utilization.gpu', gpuIndex: '0' });
    expect(metricsOf(gpus[1]!)).toMatchObject({ utilizationPct: 0, memoryUsedMib: 11n, powerMw: 63_400 });
  });

  it('[Unknown Error]: an unidentifiable GPU is a line error; a bad temperature a metrics error', () => {
    const { gpus, errors } = parseNvidiaSmiCsv(readFixture('unknown-error.csv'));
    expect(gpus.map((g) => g.index)).toEqual([0, 2]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ reason: 'unknown_error', field: 'uuid', line: 2, gpuIndex: '1' });
    expect(errorOf(gpus[1]!)).toMatchObject({ reason: 'unknown_error', field: 'temperature.gpu' });
  });

  it('wrong column count is a line error; the good line still parses', () => {
    const { gpus, errors } = parseNvidiaSmiCsv(readFixture('bad-columns.csv'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ reason: 'column_count', line: 1 });
    expect(errors[0]!.message).toMatch(/expected 8 columns .* got 7/);
    expect(gpus.map((g) => g.index)).toEqual([1]);
  });

  it('non-numeric values and empty fields are errors, never parsed leniently', () => {
    const { gpus } = parseNvidiaSmiCsv(readFixture('non-numeric.csv'));
    expect(errorOf(gpus[0]!)).toMatchObject({ reason: 'not_numeric', field: 'memory.used', raw: '71234 MiB' });
    expect(errorOf(gpus[1]!)).toMatchObject({ reason: 'not_numeric', field: 'power.draw', raw: '6.8e2' });
    expect(errorOf(gpus[2]!)).toMatchObject({ reason: 'empty_field', field: 'power.draw' });
  });

  it('no GPUs: empty output and "No devices were found" throw no_gpus', () => {
    for (const text of [readFixture('empty.csv'), '\n\n', readFixture('no-devices.txt')]) {
      let err: unknown;
      try {
        parseNvidiaSmiCsv(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NvidiaSmiError);
      expect(err).toMatchObject({ code: 'NVIDIA_SMI', reason: 'no_gpus' });
    }
  });

  it('range checks: utilization > 100, memory.total 0, negative power, bad uuid, duplicate uuid', () => {
    const u = 'GPU-8f3c2a71-94d0-2b6e-5c1f-0a7e93b4d218';
    const line = (f: Partial<Record<'idx' | 'uuid' | 'used' | 'total' | 'util' | 'temp' | 'power', string>>): string =>
      [f.idx ?? '0', f.uuid ?? u, 'NVIDIA H100 80GB HBM3', f.used ?? '1', f.total ?? '81559', f.util ?? '5', f.temp ?? '40', f.power ?? '70.00'].join(', ');
    expect(errorOf(parseNvidiaSmiCsv(line({ util: '101' })).gpus[0]!)).toMatchObject({ reason: 'out_of_range', field: 'utilization.gpu' });
    expect(parseNvidiaSmiCsv(line({ total: '0' })).errors[0]).toMatchObject({ reason: 'out_of_range', field: 'memory.total' });
    expect(errorOf(parseNvidiaSmiCsv(line({ power: '-1.00' })).gpus[0]!)).toMatchObject({ reason: 'out_of_range', field: 'power.draw' });
    expect(parseNvidiaSmiCsv(line({ uuid: 'GPU-xyz' })).errors[0]).toMatchObject({ reason: 'invalid_value', field: 'uuid' });
    const dup = parseNvidiaSmiCsv(`${line({})}\n${line({ idx: '1' })}\n`);
    expect(dup.gpus).toHaveLength(1);
    expect(dup.errors[0]).toMatchObject({ reason: 'duplicate_gpu', line: 2 });
  });

  it('decimal temperatures and large memory values convert exactly', () => {
    const text = '0, GPU-8f3c2a71-94d0-2b6e-5c1f-0a7e93b4d218, NVIDIA B200, 18446744073709551615, 18446744073709551615, 100, -5.5, 1000.005\n';
    const m = metricsOf(parseNvidiaSmiCsv(text).gpus[0]!);
    expect(m).toEqual({ memoryUsedMib: 18446744073709551615n, memoryTotalMib: 18446744073709551615n, utilizationPct: 100, temperatureMc: -5_500, powerMw: 1_000_005 });
  });
});

describe('parseScaledDecimal', () => {
  it('moves the decimal point without floats', () => {
    expect(parseScaledDecimal('612.34', 3)).toBe(612_340n);
    expect(parseScaledDecimal('0.1', 3)).toBe(100n);
    expect(parseScaledDecimal('0.01', 3)).toBe(10n);
    expect(parseScaledDecimal('71', 3)).toBe(71_000n);
    expect(parseScaledDecimal('-5', 3)).toBe(-5_000n);
    expect(parseScaledDecimal('1.0005', 3)).toBe(1_001n); // half away from zero
    expect(parseScaledDecimal('1.00049', 3)).toBe(1_000n);
    expect(parseScaledDecimal('-1.0005', 3)).toBe(-1_001n);
    for (const bad of ['', '1e3', '+1', ' 1', '1.', '.5', '0x10', 'NaN', '1,5']) expect(parseScaledDecimal(bad, 3)).toBeUndefined();
  });

  it('round-trips every milliwatt value printed with 2 or 3 decimals', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_294_967_295 }), (mw) => {
        const w = `${Math.floor(mw / 1000)}.${String(mw % 1000).padStart(3, '0')}`;
        return parseScaledDecimal(w, 3) === BigInt(mw);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 429_496_729 }), (cw) => {
        const w = `${Math.floor(cw / 100)}.${String(cw % 100).padStart(2, '0')}`;
        return parseScaledDecimal(w, 3) === BigInt(cw) * 10n;
      }),
    );
  });
});
