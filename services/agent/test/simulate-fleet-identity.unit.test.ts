/**
 * The simulated fleet's seed and identities: a numeric seed past 2^32 gave
 * the fleet of its low 32 bits (4294967297 that of 1), and two agents
 * simulating with one seed under different --node names registered the same
 * GPU uuids and job ids, which the read models merge (found by a review
 * helper). Seeds past u32 are hashed from their text; uuids and job ids come
 * from each node's own fork of the seed.
 */
import { describe, expect, it } from 'vitest';
import type { ChainEvent } from '@hwledger/chain';
import { simulateFleet } from '@hwledger/agent';

const START = 1_795_000_000_000;
const ids = (es: ChainEvent[]): string[] => es.map((e) => `${e.kind}:${e.instanceId}:${e.eventId}`);

describe('simulateFleet seeds and identities', () => {
  it('distinct numeric seeds (as the CLI passes --seed digits: Number(o.seed)) give distinct fleets', () => {
    const a = [...simulateFleet({ source: 'c/sim', seed: 1, startMs: START, count: 100 })];
    const b = [...simulateFleet({ source: 'c/sim', seed: 4_294_967_297, startMs: START, count: 100 })];
    expect(ids(b)).not.toEqual(ids(a));
  });

  it('two simulating agents (different --node) with the default seed do not share GPU uuids or job ids', () => {
    const a = [...simulateFleet({ source: 'c/rack-a', nodePrefix: 'rack-a', seed: 1, startMs: START, count: 20_000 })];
    const b = [...simulateFleet({ source: 'c/rack-b', nodePrefix: 'rack-b', seed: 1, startMs: START, count: 20_000 })];
    const devA = new Set(a.filter((e) => e.kind === 'device_registered').map((e) => e.instanceId));
    const devB = b.filter((e) => e.kind === 'device_registered').map((e) => e.instanceId);
    expect(devB.filter((d) => devA.has(d))).toEqual([]);
    const jobsA = new Set(a.filter((e) => e.kind === 'job_dispatched').map((e) => e.instanceId));
    const jobsB = b.filter((e) => e.kind === 'job_dispatched').map((e) => e.instanceId);
    expect(jobsB.filter((j) => jobsA.has(j))).toEqual([]);
  });
});
