/**
 * 503 UNAVAILABLE means "nothing stored" (HookError.mayBeStored is false for
 * 503). When a direct publish reaches the stream and only its PubAck is late
 * (a timeout), and the outbox then refuses the batch (full, or a disk error),
 * the event may well be in the ingest stream: the hook answered 503 anyway
 * (found by a review helper). It now answers 504 MAYBE_STORED.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { TestNatsServer, waitFor } from '@hwledger/testkit';
import { Agent, HookClient, HookError, startHookServer } from '@hwledger/agent';
import { ingestEvents } from './helpers.js';

/** Relays to nats-server; `muteReplies()` drops server -> client bytes only (requests still arrive). */
class OneWayProxy {
  muted = false;
  readonly socks = new Set<Socket>();
  constructor(readonly server: Server) {}
  static async start(target: number): Promise<OneWayProxy> {
    const server = createServer();
    const p = new OneWayProxy(server);
    server.on('connection', (c) => {
      const u = createConnection({ host: '127.0.0.1', port: target });
      p.socks.add(c).add(u);
      c.on('data', (d: Buffer) => void u.write(d));
      u.on('data', (d: Buffer) => void (p.muted || c.write(d)));
      const end = (): void => void (c.destroy(), u.destroy());
      c.on('close', end).on('error', end);
      u.on('close', end).on('error', end);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return p;
  }
  get url(): string {
    return `nats://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async close(): Promise<void> {
    for (const s of this.socks) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

let server: TestNatsServer;
const tmp = mkdtempSync(join(tmpdir(), 'hwl-r2-503-'));
beforeAll(async () => {
  server = await TestNatsServer.start();
});
afterAll(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('hook: 503 means nothing stored', () => {
  it('a PubAck timeout followed by an outbox refusal answers 504 MAYBE_STORED (the event is in the ingest stream), not 503', async () => {
    const proxy = await OneWayProxy.start(server.port);
    // outboxMaxBytes small: stands for an outbox that cannot take the batch (full, ENOSPC).
    const agent = await Agent.open({ chainId: 'r2-503', node: 'serve-1', natsUrl: proxy.url, outboxDir: join(tmp, 'o'), publishTimeoutMs: 500, outboxMaxBytes: 64 });
    await waitFor(() => agent.connected, 10_000, 20, 'agent connected');
    const hook = await startHookServer({ agent, port: 0 });
    const client = new HookClient(hook.url);
    proxy.muted = true; // the broker gets the message; its PubAck does not come back in time
    const err = await client
      .inferenceCompleted({ tenant_id: 'acme', request_id: 'r-1', total_tokens: 1, compute_ms: 1n, reason: 'end_of_sequence' }, { eventId: 'r2-key-1' })
      .catch((e: unknown) => e);
    const nc = await connect({ servers: server.url });
    const events = await ingestEvents(nc, 'r2-503');
    await nc.close();
    await hook.close({ drainTimeoutMs: 0 });
    await proxy.close();
    await agent.stop({ flushTimeoutMs: 0 });
    expect(err).toBeInstanceOf(HookError);
    const he = err as HookError;
    // The answer must not claim "nothing stored" for an event that the stream holds.
    expect({ status: he.status, code: he.code, mayBeStored: he.mayBeStored, inStream: events.map((e) => e.eventId) }).toEqual({ status: 504, code: 'MAYBE_STORED', mayBeStored: true, inStream: ['r2-key-1'] });
    expect(he.message).toMatch(/may have been stored: the publish got no answer .* and the outbox refused it/);
  });
});
