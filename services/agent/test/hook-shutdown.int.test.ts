/**
 * The scheduler hook while its event cannot reach JetStream quickly (the
 * relay to the real nats-server is a black hole, so the PubAck never comes and
 * the event goes to the outbox after --publish-timeout-ms):
 * - shutdown drains: a request already being handled gets its real answer
 *   (202, stored in the outbox) before close() resolves; requests arriving
 *   after shutdown started are refused (503 UNAVAILABLE on a connection opened
 *   earlier, connection refused on a new one) and store nothing; the drain is
 *   bounded by its timeout;
 * - a concurrent retry with the same idempotency key of a request whose
 *   storage fails gets the same answer as the first (504 MAYBE_STORED: its
 *   publish got no answer, so the agent cannot say it was not stored).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeIngestBatch } from '@hwledger/proto';
import { TestNatsServer, waitFor } from '@hwledger/testkit';
import { Agent, Outbox, startHookServer, type HookServer } from '@hwledger/agent';
import { StallProxy } from './stall-proxy.js';

let server: TestNatsServer;
const tmp = mkdtempSync(join(tmpdir(), 'hwl-agent-hook-shutdown-'));
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  server = await TestNatsServer.start();
});
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function start(chainId: string, o: { publishTimeoutMs: number; outboxMaxBytes?: number }): Promise<{ agent: Agent; hook: HookServer; proxy: StallProxy; outboxDir: string }> {
  const proxy = await StallProxy.start(server.port);
  cleanup.push(() => proxy.close());
  const outboxDir = join(tmp, chainId);
  const agent = await Agent.open({ chainId, node: 'serve-1', natsUrl: proxy.url, outboxDir, ...o });
  cleanup.push(async () => {
    proxy.heal(); // a publish waiting on the black hole fails at once instead of at its timeout
    await agent.stop({ flushTimeoutMs: 0 });
  });
  await waitFor(() => agent.connected, 10_000, 20, 'agent connected');
  const hook = await startHookServer({ agent, port: 0 });
  cleanup.push(() => hook.close({ drainTimeoutMs: 0 }));
  return { agent, hook, proxy, outboxDir };
}

const inference = (requestId: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...extra,
  data: { tenant_id: 'acme', request_id: requestId, total_tokens: 512, compute_ms: '1834', reason: 'end_of_sequence' },
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/** POST on a connection of its own (no pooling): an answer, or the connection error. */
function post(port: number, path: string, body: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(text);
  });
}

/** The raw HTTP answer to `text` written on an already open socket, read until the server closes it. */
function answerOn(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('utf8')));
    socket.on('close', () => resolve(got));
    socket.on('error', () => undefined);
    socket.write(text);
  });
}

async function outboxInstances(dir: string): Promise<string[]> {
  return (await Outbox.readPending(dir)).flatMap((e) => decodeIngestBatch(e.body).events.map((r) => (r.ok ? r.event.instanceId : `undecodable: ${r.message}`)));
}

describe('scheduler hook: shutdown and failing storage', () => {
  it('shutdown drains: the request in flight gets its 202 (stored in the outbox) before close() resolves; later requests are refused and store nothing', async () => {
    const { agent, hook, proxy, outboxDir } = await start('hook-drain', { publishTimeoutMs: 1_500 });
    const warm = await post(hook.port, '/v1/events/inference-completed', inference('before'));
    expect([warm.status, warm.body['stored']]).toEqual([202, 'jetstream']);

    // A connection opened before shutdown whose request comes after it started.
    const early = netConnect(hook.port, '127.0.0.1');
    await new Promise<void>((r) => early.once('connect', () => r()));

    proxy.blackhole(); // NATS still "connected", but the PubAck will never come
    const inflight = post(hook.port, '/v1/events/inference-completed', inference('in-flight')).catch(
      (e: Error) => e, // the defect: the connection was cut (ECONNRESET) though the event will be stored
    );
    await waitFor(() => agent.pending === 1, 10_000, 5, 'the event waiting for its PubAck');

    // close() resolves only once the answer owed is sent, hence after the event became durable.
    const closed = hook.close().then(() => ({ pending: agent.pending, inFlight: hook.inFlight }));

    const late = await post(hook.port, '/v1/events/inference-completed', inference('new-connection')).catch((e: NodeJS.ErrnoException) => e);
    expect(late).toBeInstanceOf(Error);
    expect((late as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    const text = JSON.stringify(inference('open-connection'));
    const lateOnOpen = answerOn(early, `POST /v1/events/inference-completed HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);

    const answer = await inflight;
    if (answer instanceof Error) throw new Error(`the request in flight got no answer: ${answer.message}`);
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ accepted: true, stored: 'outbox', instance_id: 'inference:request_completed:in-flight', duplicate: false });
    expect(answer.headers['connection']).toBe('close');

    const raw = await lateOnOpen;
    expect(raw).toMatch(/^HTTP\/1\.1 503 /);
    expect(raw).toMatch(/\r\nconnection: close\r\n/i);
    expect(raw).toContain('"code":"UNAVAILABLE"');
    expect(await closed).toEqual({ pending: 0, inFlight: 0 });

    // The 202 was true: the event is in the fsync'd outbox; the refused ones are nowhere.
    expect(await outboxInstances(outboxDir)).toEqual(['inference:request_completed:in-flight']);
    expect(agent.stats()).toMatchObject({ accepted: { jetstream: 1, outbox: 1 }, refused: 0 });
  });

  it('the drain is bounded: close() resolves after drainTimeoutMs even if an answer is still owed', async () => {
    const { agent, hook, proxy } = await start('hook-drain-bound', { publishTimeoutMs: 60_000 });
    proxy.blackhole();
    const inflight = post(hook.port, '/v1/events/inference-completed', inference('stuck')).catch((e: unknown) => e);
    await waitFor(() => agent.pending === 1, 10_000, 5, 'the event waiting for its PubAck');
    await hook.close({ drainTimeoutMs: 200 });
    expect(agent.pending).toBe(1); // still not durable: it was not answered 202
    const r = await inflight;
    expect(r).toBeInstanceOf(Error);
    expect((r as NodeJS.ErrnoException).code).toBe('ECONNRESET');
  });

  it('a concurrent retry with the same idempotency key gets the first attempt\'s answer when storage fails', async () => {
    // NATS never answers and every outbox append is refused (max 64 bytes): the event is stored nowhere,
    // but the agent cannot know that its unanswered publish did not land: 504 MAYBE_STORED, not 503.
    const { agent, hook, proxy, outboxDir } = await start('hook-idem-fail', { publishTimeoutMs: 1_500, outboxMaxBytes: 64 });
    proxy.blackhole();
    const body = inference('req-fail', { event_id: 'harness-req-fail' });
    const first = post(hook.port, '/v1/events/inference-completed', body);
    await waitFor(() => agent.pending === 1, 10_000, 5, 'the first attempt waiting for its PubAck');
    const retry = post(hook.port, '/v1/events/inference-completed', body);
    const answers = await Promise.all([first, retry]);
    expect(answers.map((a) => [a.status, (a.body['error'] as { code?: string } | undefined)?.code])).toEqual([
      [504, 'MAYBE_STORED'],
      [504, 'MAYBE_STORED'],
    ]);
    expect(agent.stats().refused).toBe(1); // the retry waited on the first attempt; it did not submit a second event
    expect(await Outbox.readPending(outboxDir)).toEqual([]);
  });
});
