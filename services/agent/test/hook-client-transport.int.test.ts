/**
 * What the typed HookClient says when a call gets no answer. Before, every
 * such failure was UNREACHABLE, which reads as "nothing stored", also after a
 * timeout while the agent was still storing the event: a harness that then
 * retried without its eventId, or gave up, recorded the request twice or
 * believed it lost. Now only a refused connection is UNREACHABLE
 * (`mayBeStored` false); a timeout is TIMEOUT (`mayBeStored` true), and the
 * retry with the same eventId shows the event was stored, once. Real agent,
 * real hook server, a real nats-server that is frozen (SIGSTOP) to hang.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, ensureChainTopology, streams } from '@hwledger/core';
import { freePort, TestNatsServer, waitFor } from '@hwledger/testkit';
import { Agent, HookClient, HookError, startHookServer } from '@hwledger/agent';

let server: TestNatsServer;
let tmp: string;

beforeAll(async () => {
  server = await TestNatsServer.start();
  tmp = mkdtempSync(join(tmpdir(), 'hwl-hook-transport-'));
});

afterAll(async () => {
  server.resume();
  await server.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const request = { tenant_id: 'acme', request_id: 'req-7', total_tokens: 64, compute_ms: 120n, reason: 'end_of_sequence' as const };

describe('HookClient without an answer', () => {
  it('UNREACHABLE when nothing listens: nothing can have been stored', async () => {
    const client = new HookClient(`http://127.0.0.1:${await freePort()}`, { timeoutMs: 2_000 });
    const err = await client.inferenceCompleted(request, { eventId: 'e-1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HookError);
    expect(err).toMatchObject({ status: 0, code: 'UNREACHABLE', mayBeStored: false });
  });

  it('CONNECTION_LOST when the connection drops before the answer: the event may have been stored', async () => {
    // A listener that takes the request and closes the socket without answering (a crash mid-call).
    const sockets: Server = createServer((s) => s.once('data', () => s.destroy()));
    await new Promise<void>((r) => sockets.listen(0, '127.0.0.1', r));
    const port = (sockets.address() as { port: number }).port;
    try {
      const err = await new HookClient(`http://127.0.0.1:${port}`, { timeoutMs: 5_000 }).inferenceCompleted(request, { eventId: 'e-2' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 0, code: 'CONNECTION_LOST', mayBeStored: true });
    } finally {
      await new Promise((r) => sockets.close(r));
    }
  });

  it('BAD_RESPONSE for a 202 without a receipt (a proxy in between, say), instead of a receipt of "undefined" fields', async () => {
    const http = createHttpServer((_req, res) => res.writeHead(202, { 'content-type': 'text/plain' }).end('accepted'));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const port = (http.address() as { port: number }).port;
    try {
      const err = await new HookClient(`http://127.0.0.1:${port}`).inferenceCompleted(request, { eventId: 'e-3' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 0, code: 'BAD_RESPONSE', mayBeStored: true });
    } finally {
      await new Promise((r) => http.close(r));
    }
  });

  it('TIMEOUT while the agent is still storing the event; the retry with the same eventId finds it stored once', async () => {
    const chainId = 'hook-timeout';
    const nc = await connectNats(server.url, 'test');
    await ensureChainTopology(nc, chainId);
    const agent = await Agent.open({ chainId, node: 'serve-1', natsUrl: server.url, outboxDir: join(tmp, chainId), publishTimeoutMs: 1_500 });
    const hook = await startHookServer({ agent, port: 0 });
    try {
      await waitFor(() => agent.connected, 10_000, 20, 'agent connected');
      // The broker hangs: the PubAck never comes, so the agent answers only
      // after its publish timeout, once the event is in its outbox.
      server.pause();
      const impatient = new HookClient(hook.url, { timeoutMs: 300 });
      const err = await impatient.inferenceCompleted(request, { eventId: 'req-7' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HookError);
      expect(err).toMatchObject({ status: 0, code: 'TIMEOUT', mayBeStored: true });

      // The retry the error asks for: same eventId. It is answered with the
      // first call's receipt once that is stored, and adds no event.
      const patient = new HookClient(hook.url, { timeoutMs: 10_000 });
      const receipt = await patient.inferenceCompleted(request, { eventId: 'req-7' });
      expect(receipt).toMatchObject({ eventId: 'req-7', duplicate: true });
      server.resume();
      expect(await agent.drained(15_000)).toBe(true);
      const jsm = await jetstreamManager(nc);
      expect((await jsm.streams.info(streams.ingest(chainId))).state.messages).toBe(1);
    } finally {
      server.resume();
      await hook.close();
      await agent.stop({ flushTimeoutMs: 0 });
      await nc.close();
    }
  }, 60_000);
});
