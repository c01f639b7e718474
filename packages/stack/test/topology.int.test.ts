/**
 * `hwledger-stack topology` on a real nats-server: it creates what sealing
 * depends on, and it refuses rollups on shared KV buckets made before they
 * were refused (by nats.js's own defaults), keeping their values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { streams } from '@hwledger/core';
import { useNatsServer } from '@hwledger/testkit';
import { ensureTopology } from '../src/topology.js';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Sequencer } from '@hwledger/sequencer';

const nats = useNatsServer({ clientName: 'topology-test' });
const saved = process.env['NATS_URL'];

beforeAll(async () => {
  process.env['NATS_URL'] = nats.url;
});

afterAll(async () => {
  if (saved === undefined) delete process.env['NATS_URL'];
  else process.env['NATS_URL'] = saved;
});

describe('ensureTopology', () => {
  it('refuses rollups on buckets made with rollups allowed, keeps their values, and creates the rest', async () => {
    // As an older sequencer made them: nats.js's defaults (rollups allowed).
    const old = await new Kvm(nats.nc).create('hwl_leader', { history: 1, ttl: 30_000 });
    await old.put('us-east-1', 'holder');
    const jsm = await jetstreamManager(nats.nc);
    expect((await jsm.streams.info('KV_hwl_leader')).config.allow_rollup_hdrs).toBe(true);

    // A sequencer started on it says so.
    const logged: string[] = [];
    const seq = new Sequencer({ nc: nats.nc, chainId: 'eu-west-1', registry: new Registry(), takeoverGraceMs: 0, logger: pino({ level: 'warn' }, { write: (l: string) => void logged.push(l) }) });
    await seq.start();
    await seq.stop();
    expect(logged.join('')).toMatch(/"bucket":"hwl_leader".*still allows rollups/);

    const lines: string[] = [];
    await ensureTopology({ chains: ['eu-west-1'], replicas: 1, fleets: ['main'] }, (l) => lines.push(l));
    expect(lines).toContain('KV hwl_leader: rollups now refused');
    for (const s of ['KV_hwl_leader', 'KV_hwl_checkpoints']) expect((await jsm.streams.info(s)).config.allow_rollup_hdrs, s).toBe(false);
    expect((await old.get('us-east-1'))?.string()).toBe('holder');
    for (const s of [streams.chain('eu-west-1'), streams.ingest('eu-west-1'), streams.dlq('eu-west-1'), streams.checkpoint('eu-west-1'), 'HWL_FLEET_main']) {
      expect((await jsm.streams.info(s)).config.name).toBe(s);
    }
    // A rollup is refused now, and the value is still there.
    const h = headers();
    h.set('Nats-Rollup', 'all');
    await expect(jetstream(nats.nc).publish('$KV.hwl_leader.eu-west-1', new TextEncoder().encode('x'), { headers: h })).rejects.toThrow(/rollup/i);
    expect((await old.get('us-east-1'))?.string()).toBe('holder');

    // Run again: nothing left to change.
    const again: string[] = [];
    await ensureTopology({ chains: ['eu-west-1'], replicas: 1, fleets: ['main'] }, (l) => again.push(l));
    expect(again.some((l) => l.includes('rollups now refused'))).toBe(false);
  });
});
