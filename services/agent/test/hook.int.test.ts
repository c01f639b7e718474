/**
 * The scheduler hook on a real nats-server: 202 only once the event is
 * durable (in the ingest stream, or fsync'd in the outbox while NATS is down
 * and flushed later), 400 with a code on bad input leaving nothing behind,
 * 503 when no store takes it, idempotent retries, and the typed HookClient.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { ensureChainTopology, streams } from '@hwledger/core';
import { TestNatsServer, waitFor } from '@hwledger/testkit';
import { Agent, HookClient, HookError, Outbox, startHookServer, type HookServer } from '@hwledger/agent';
import { ingestEvents } from './helpers.js';

let server: TestNatsServer;
let nc: NatsConnection;
const tmp = mkdtempSync(join(tmpdir(), 'hwl-agent-hook-'));
const opened: { agent: Agent; hook: HookServer }[] = [];

beforeAll(async () => {
  server = await TestNatsServer.start();
  nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
});
afterAll(async () => {
  for (const o of opened) {
    await o.hook.close();
    await o.agent.stop({ flushTimeoutMs: 0 });
  }
  await nc?.close();
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function start(chainId: string, o: { outboxMaxBytes?: number; batchMaxBytes?: number } = {}): Promise<{ agent: Agent; hook: HookServer; client: HookClient; outboxDir: string }> {
  const outboxDir = join(tmp, chainId);
  const agent = await Agent.open({ chainId, node: 'serve-1', natsUrl: server.url, outboxDir, publishTimeoutMs: 1_000, ...o });
  await waitFor(() => agent.connected, 10_000, 20, 'agent connected');
  const hook = await startHookServer({ agent, port: 0 });
  opened.push({ agent, hook });
  return { agent, hook, client: new HookClient(hook.url), outboxDir };
}

const post = (url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

const inference = (requestId: string, tenant = 'acme') => ({ data: { tenant_id: tenant, request_id: requestId, total_tokens: 512, compute_ms: '1834', reason: 'end_of_sequence' } });

async function ingestCount(chainId: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(streams.ingest(chainId))).state.messages;
}

describe('scheduler hook', () => {
  it('202 comes after the PubAck: the event is already in the ingest stream, with the spec conventions filled in', async () => {
    const { hook } = await start('hook-ack');
    const res = await post(hook.url, '/v1/events/inference-completed', inference('req-42'));
    expect(res.status).toBe(202);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ accepted: true, stored: 'jetstream', source: 'hook-ack/serve-1', instance_id: 'inference:request_completed:req-42', duplicate: false });
    const events = await ingestEvents(nc, 'hook-ack'); // read right after the 202, no waiting
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: 'inference_request_completed',
      source: 'hook-ack/serve-1',
      eventId: body['event_id'],
      tenant: 'acme',
      instanceId: 'inference:request_completed:req-42',
      data: { tenant_id: 'acme', request_id: 'req-42', total_tokens: 512, compute_ms: 1834n, reason: 'end_of_sequence' },
    });
    expect(events[0]!.observedAtMs).toBeGreaterThan(BigInt(Date.now() - 60_000));
  });

  it('the typed client: job lifecycle and inference, u64 as bigint, job:<id> instance ids', async () => {
    const { client } = await start('hook-client');
    const d = await client.jobDispatched(
      { job_id: 'j-9', device_id: 'GPU-8f3c2a71-94d0-2b6e-5c1f-0a7e93b4d218', model_id: 'llama-3.1-70b', vram_requested_mib: 40_960n, predicted_cost_micro_usd: 18_446_744_073_709_551_615n },
      { tenant: 'globex', eventId: 'sched-j-9-dispatch', observedAtMs: 1_795_000_000_000n },
    );
    expect(d).toEqual({ eventId: 'sched-j-9-dispatch', source: 'hook-client/serve-1', instanceId: 'job:j-9', stored: 'jetstream', duplicate: false });
    await client.jobCompleted({ job_id: 'j-9', tokens_generated: 90_000, duration_ms: 61_000n, actual_vram_mib: 39_000n, cost_micro_usd: 42_195n }, { tenant: 'globex' });
    await client.jobFailed({ job_id: 'j-10', error_message: 'CUDA error: out of memory' }, { tenant: 'globex' });
    await client.inferenceCompleted({ tenant_id: 'initech', request_id: 'r-1', total_tokens: 7, compute_ms: 12n, reason: 'preempted' });
    const events = await ingestEvents(nc, 'hook-client');
    expect(events.map((e) => [e.kind, e.tenant, e.instanceId])).toEqual([
      ['job_dispatched', 'globex', 'job:j-9'],
      ['job_completed', 'globex', 'job:j-9'],
      ['job_failed', 'globex', 'job:j-10'],
      ['inference_request_completed', 'initech', 'inference:request_completed:r-1'],
    ]);
    expect(events[0]).toMatchObject({ observedAtMs: 1_795_000_000_000n, data: { predicted_cost_micro_usd: 18_446_744_073_709_551_615n } });
    const err = await client.inferenceCompleted({ tenant_id: 'initech', request_id: 'r-2', total_tokens: 7, compute_ms: 12n, reason: 'timeout' as 'cancelled' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HookError);
    expect(err).toMatchObject({ status: 400, code: 'INVALID_FIELD' });
    const health = await client.healthz();
    expect(health).toMatchObject({ status: 'ok', nats: 'connected', outbox_depth: 0 });
  });

  it('400 with a code and message on bad input, and nothing stored anywhere', async () => {
    const { agent, hook, outboxDir } = await start('hook-bad');
    const job = { job_id: 'j1', device_id: 'GPU-1', model_id: 'm', vram_requested_mib: '1', predicted_cost_micro_usd: '1' };
    const bad: [string, unknown, string, RegExp][] = [
      ['/v1/events/inference-completed', '{not json', 'INVALID_JSON', /not JSON/],
      ['/v1/events/inference-completed', '[1,2]', 'INVALID_JSON', /object/],
      ['/v1/events/inference-completed', { ...inference('r'), extra: 1 }, 'INVALID_FIELD', /extra: unknown member/],
      ['/v1/events/inference-completed', { data: { ...inference('r').data, reason: 'timeout' } }, 'INVALID_FIELD', /reason/],
      ['/v1/events/inference-completed', { data: { ...inference('r').data, compute_ms: 1834 } }, 'INVALID_FIELD', /compute_ms: expected a u64 as a decimal string/],
      ['/v1/events/inference-completed', { data: { ...inference('r').data, compute_ms: '-1' } }, 'INVALID_FIELD', /compute_ms/],
      ['/v1/events/inference-completed', { data: { ...inference('r').data, total_tokens: 4_294_967_296 } }, 'INVALID_FIELD', /total_tokens/],
      ['/v1/events/inference-completed', { tenant: 'globex', ...inference('r') }, 'INVALID_FIELD', /tenant_id: must equal the record tenant/],
      ['/v1/events/inference-completed', inference('r', 'has space'), 'INVALID_FIELD', /tenant/],
      ['/v1/events/inference-completed', { data: { tenant_id: 'acme', request_id: 'r', total_tokens: 1, compute_ms: '1' } }, 'INVALID_FIELD', /reason: missing/],
      ['/v1/events/job-dispatched', { data: { ...job, job_id: '' } }, 'INVALID_FIELD', /job_id/],
      ['/v1/events/job-dispatched', { data: { ...job, job_id: 'x'.repeat(300) } }, 'INVALID_FIELD', /exceeds the limit/],
      ['/v1/events/job-dispatched', { data: { ...job, model_id: 'a\u0007b' } }, 'INVALID_FIELD', /control characters/],
      ['/v1/events/job-dispatched', { data: { ...job, cost: '1' } }, 'INVALID_FIELD', /not a field of job_dispatched/],
      ['/v1/events/job-failed', { data: { job_id: 'j1' } }, 'INVALID_FIELD', /error_message: missing/],
      ['/v1/events/job-completed', { event_id: 7, data: {} }, 'INVALID_FIELD', /event_id/],
      ['/v1/events/job-completed', { observed_at_ms: '0', data: { job_id: 'j', tokens_generated: 1, duration_ms: '1', actual_vram_mib: '1', cost_micro_usd: '1' } }, 'INVALID_FIELD', /observed_at_ms/],
    ];
    for (const [path, body, code, msg] of bad) {
      const res = await post(hook.url, path, body);
      const json = (await res.json()) as { error?: { code?: string; message?: string } };
      expect([res.status, json.error?.code], `${path} ${JSON.stringify(body).slice(0, 80)}: ${json.error?.message}`).toEqual([400, code]);
      expect(json.error!.message).toMatch(msg);
    }
    expect((await post(hook.url, '/v1/events/nope', {})).status).toBe(404);
    const get = await fetch(`${hook.url}/v1/events/job-failed`);
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
    const big = await post(hook.url, '/v1/events/job-failed', { data: { job_id: 'j', error_message: 'x'.repeat(70_000) } });
    expect([big.status, ((await big.json()) as { error: { code: string } }).error.code]).toEqual([413, 'BODY_TOO_LARGE']);

    expect(agent.stats().accepted).toEqual({ jetstream: 0, outbox: 0 });
    expect(agent.outbox.isEmpty).toBe(true);
    expect(await Outbox.readPending(outboxDir)).toEqual([]);
    expect(await ingestCount('hook-bad')).toBe(0);
  });

  it('400 EVENT_TOO_LARGE for an event that cannot fit an ingest message (not a retryable 503), nothing stored', async () => {
    const { hook, agent } = await start('hook-too-large', { batchMaxBytes: 1_024 });
    const big = { data: { job_id: 'j-big', error_message: 'x'.repeat(2_000) } };
    const res = await post(hook.url, '/v1/events/job-failed', big, { 'idempotency-key': 'big-1' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('EVENT_TOO_LARGE');
    // A retry under the same key gets the same answer.
    const again = await post(hook.url, '/v1/events/job-failed', big, { 'idempotency-key': 'big-1' });
    expect(again.status).toBe(400);
    // A small event still goes through.
    expect((await post(hook.url, '/v1/events/job-failed', { data: { job_id: 'j-small', error_message: 'oom' } })).status).toBe(202);
    expect(await agent.drained(5_000)).toBe(true);
    expect((await ingestEvents(nc, 'hook-too-large')).map((e) => e.data)).toEqual([{ job_id: 'j-small', error_message: 'oom' }]);
  });

  it('idempotency key: a retry gets the first receipt and adds no event; a different body under the same key is 409', async () => {
    const { hook } = await start('hook-idem');
    const body = { event_id: 'harness-req-7', ...inference('req-7') };
    const a = await post(hook.url, '/v1/events/inference-completed', body);
    const b = await post(hook.url, '/v1/events/inference-completed', body);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(((await b.json()) as { duplicate: boolean }).duplicate).toBe(true);
    const c = await post(hook.url, '/v1/events/inference-completed', { event_id: 'harness-req-7', ...inference('req-8') });
    expect(c.status).toBe(409);
    const h = await post(hook.url, '/v1/events/inference-completed', inference('req-9'), { 'Idempotency-Key': 'harness-req-9' });
    expect(((await h.json()) as { event_id: string }).event_id).toBe('harness-req-9');
    expect((await ingestEvents(nc, 'hook-idem')).map((e) => e.eventId)).toEqual(['harness-req-7', 'harness-req-9']);
  });

  it('NATS down: 202 once fsync\'d in the outbox; flushed on reconnect; outbox full -> 503 and that event is nowhere', async () => {
    const chainId = 'hook-outage';
    await ensureChainTopology(nc, chainId);
    const { agent, hook, outboxDir } = await start(chainId, { outboxMaxBytes: 2_000 });
    await server.kill();
    await waitFor(() => !agent.connected, 10_000, 20, 'agent to notice the outage');
    const accepted: string[] = [];
    let refusal: Response | undefined;
    for (let i = 0; i < 50 && !refusal; i++) {
      const res = await post(hook.url, '/v1/events/inference-completed', inference(`down-${i}`));
      if (res.status === 202) {
        const r = (await res.json()) as { stored: string; instance_id: string };
        expect(r.stored).toBe('outbox');
        accepted.push(r.instance_id);
        // durable before the answer: it is in the outbox file now
        expect((await Outbox.readPending(outboxDir)).reduce((n, e) => n + e.events, 0)).toBe(accepted.length);
      } else {
        refusal = res;
      }
    }
    expect(accepted.length).toBeGreaterThan(2);
    expect(refusal?.status).toBe(503);
    expect(((await refusal!.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
    const metrics = await (await fetch(`${hook.url}/metrics`)).text();
    expect(metrics).toContain(`hwl_agent_outbox_depth ${accepted.length}`);
    expect((await (await fetch(`${hook.url}/healthz`)).json()) as object).toMatchObject({ nats: 'disconnected', outbox_depth: accepted.length });

    await server.restart();
    expect(await agent.drained(30_000)).toBe(true);
    const fresh = await connect({ servers: server.url });
    const events = await ingestEvents(fresh, chainId).finally(() => fresh.close());
    expect(events.map((e) => e.instanceId)).toEqual(accepted);
    expect(await (await fetch(`${hook.url}/metrics`)).text()).toMatch(/hwl_agent_events_published_total\{via="outbox"\} [1-9]/);
  });
});
