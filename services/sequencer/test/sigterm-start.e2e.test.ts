/**
 * `hwledger sequencer` stopped (SIGTERM) while it is still starting: it
 * exits 0 without taking the lease or sealing, instead of being killed by the
 * signal's default action (which leaves a lease to expire and no "stopped"
 * line). The moment is made deterministic with a gate between the process and
 * the real nats-server: the process's connection is held until the signal has
 * been delivered, then let through. And a start-up that fails after
 * connecting ends the process (before, the open connection kept it running,
 * and the signal handlers swallowed the first SIGTERM).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { ensureChainTopology, streams } from '@hwledger/core';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { makeEvents, nodeSource, publishEvents } from './helpers.js';
import { startSequencer, type SequencerProcess } from './processes.js';

/** Accepts connections and holds them (bytes buffered) until open(), then relays them to `port`. */
class Gate {
  private readonly held: { client: Socket; data: Buffer[] }[] = [];
  private opened = false;
  constructor(
    private readonly server: Server,
    private readonly port: number,
  ) {}
  static async start(port: number): Promise<Gate> {
    const server = createServer();
    const gate = new Gate(server, port);
    server.on('connection', (c) => gate.accept(c));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return gate;
  }
  get url(): string {
    return `nats://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  get waiting(): number {
    return this.held.length;
  }
  private accept(client: Socket): void {
    const h = { client, data: [] as Buffer[] };
    client.on('data', (d: Buffer) => h.data.push(d));
    client.on('error', () => undefined);
    if (this.opened) this.relay(h);
    else this.held.push(h);
  }
  private relay(h: { client: Socket; data: Buffer[] }): void {
    const up = createConnection({ host: '127.0.0.1', port: this.port });
    up.on('error', () => h.client.destroy());
    h.client.removeAllListeners('data');
    for (const d of h.data) up.write(d);
    h.client.pipe(up);
    up.pipe(h.client);
    h.client.on('close', () => up.destroy());
    up.on('close', () => h.client.destroy());
  }
  open(): void {
    this.opened = true;
    for (const h of this.held.splice(0)) this.relay(h);
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('hwledger sequencer: SIGTERM while starting', () => {
  const nats = useNatsServer();
  let gate: Gate | undefined;
  let proc: SequencerProcess | undefined;

  afterAll(async () => {
    await proc?.kill9();
    await gate?.close();
  });

  it('exits 0 without leading or sealing when the signal comes before it has started', async () => {
    const CHAIN = 'sigstart';
    await ensureChainTopology(nats.nc, CHAIN);
    await publishEvents(nats.nc, CHAIN, makeEvents(0, 20, nodeSource(CHAIN)), 10);
    gate = await Gate.start(nats.server.port);
    proc = startSequencer(gate.url, CHAIN, ['--takeover-grace-ms', '0']);
    // Its connection attempt is held at the gate: the process is inside its start-up.
    await waitFor(() => gate!.waiting > 0 || undefined, 30_000, 20, 'the sequencer connecting');
    proc.proc.kill('SIGTERM');
    // Let the signal be delivered and handled before the connection completes.
    await new Promise((r) => setTimeout(r, 300));
    gate.open();
    const ended = await Promise.race([proc.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000))]);
    expect(ended, proc.logs().slice(-4_000)).toEqual({ code: 0, signal: null });
    expect(proc.logs()).toContain('sequencer stopped');
    expect(proc.logs()).not.toContain('acquired the lease');
    const jsm = await jetstreamManager(nats.nc);
    expect((await jsm.streams.info(streams.chain(CHAIN))).state.messages).toBe(0);
  });

  it('a start-up failure after connecting ends the process by itself, naming the cause (nothing left open keeps it alive)', async () => {
    const failing = startSequencer(nats.url, 'sigfail', ['--checkpoint-key', '/nonexistent/hwl-checkpoint.key']);
    const ended = await Promise.race([failing.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000))]);
    if (ended === 'still running') await failing.kill9();
    expect(ended, failing.logs().slice(-2_000)).toEqual({ code: 2, signal: null });
    expect(failing.logs()).toContain('/nonexistent/hwl-checkpoint.key');
  });
});
