/**
 * bench/lib/pprof.mjs (what bench/profile-server.mjs reads nats-server's CPU
 * profiles with): CPU time per function, flat and cumulative, from a pprof
 * profile written here field by field (google/pprof proto/profile.proto),
 * gzipped as nats-server serves it and plain.
 */
import { gzipSync } from 'node:zlib';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a bench script (JavaScript, no types)
import { cpuByFunction } from '../bench/lib/pprof.mjs';

interface Cpu {
  totalNs: number;
  flat: Map<string, number>;
  cum: Map<string, number>;
}

/** strings[0] is '' as pprof requires; functions i+1 are named strings[i+1]; a location per function (inlined: two functions in one location). */
function profile(samples: { loc: number[]; ns: number }[]): Uint8Array {
  const w = new BinaryWriter();
  const strings = ['', 'samples', 'count', 'cpu', 'nanoseconds', 'main', 'readLoop', 'pwrite', 'inlinedHelper'];
  for (const [type, unit] of [
    [1, 2],
    [3, 4],
  ])
    w.tag(1, 2).bytes(new BinaryWriter().tag(1, 0).int64(type!).tag(2, 0).int64(unit!).finish());
  for (const s of samples) w.tag(2, 2).bytes(new BinaryWriter().tag(1, 2).bytes(packU64(s.loc)).tag(2, 2).bytes(packU64([1, s.ns])).finish());
  // Location 1: pwrite; 2: readLoop; 3: main; 4: inlinedHelper inlined into readLoop (innermost first).
  const locs: [number, number[]][] = [
    [1, [3]],
    [2, [2]],
    [3, [1]],
    [4, [4, 2]],
  ];
  for (const [id, fns] of locs) {
    const l = new BinaryWriter().tag(1, 0).uint64(id);
    for (const fn of fns) l.tag(4, 2).bytes(new BinaryWriter().tag(1, 0).uint64(fn).finish());
    w.tag(4, 2).bytes(l.finish());
  }
  // Functions 1..4 named main, readLoop, pwrite, inlinedHelper.
  for (const [id, name] of [
    [1, 5],
    [2, 6],
    [3, 7],
    [4, 8],
  ])
    w.tag(5, 2).bytes(new BinaryWriter().tag(1, 0).uint64(id!).tag(2, 0).int64(name!).finish());
  for (const s of strings) w.tag(6, 2).string(s);
  return w.finish();
}

function packU64(xs: number[]): Uint8Array {
  const w = new BinaryWriter();
  for (const x of xs) w.uint64(x);
  return w.finish();
}

describe('bench/lib/pprof.mjs', () => {
  // Stacks are leaf first: pwrite <- readLoop <- main, and so on.
  const samples = [
    { loc: [1, 2, 3], ns: 300 },
    { loc: [2, 3], ns: 100 },
    { loc: [4, 3], ns: 50 },
    { loc: [3], ns: 25 },
  ];

  for (const [form, bytes] of [
    ['gzipped', gzipSync(profile(samples))],
    ['plain', profile(samples)],
  ] as const) {
    it(`adds CPU per function, flat and cumulative (${form})`, () => {
      const p = cpuByFunction(new Uint8Array(bytes)) as Cpu;
      expect(p.totalNs).toBe(475);
      expect(Object.fromEntries(p.flat)).toEqual({ pwrite: 300, readLoop: 100, inlinedHelper: 50, main: 25 });
      expect(Object.fromEntries(p.cum)).toEqual({ pwrite: 300, readLoop: 450, inlinedHelper: 50, main: 475 });
    });
  }
});
