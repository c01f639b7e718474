/**
 * `hwledger agent --hook-port` receiving SIGTERM while a hook request waits
 * for its PubAck (needs the build: npx tsc -b packages/cli). The relay to the
 * real nats-server is a black hole, so the event goes to the outbox when
 * --publish-timeout-ms passes. The request must get that real answer (202,
 * stored: outbox) instead of a cut connection (which a harness retrying
 * without an idempotency key would turn into a second event); a request after
 * the signal is refused; the event is stored exactly once.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { decodeIngestBatch } from '@hwledger/proto';
import { freePort, runCli, spawnCli, TestNatsServer, waitFor } from '@hwledger/testkit';
import { Outbox } from '@hwledger/agent';
import { ingestEvents } from './helpers.js';
import { StallProxy } from './stall-proxy.js';

let server: TestNatsServer;
let proxy: StallProxy;
const tmp = mkdtempSync(join(tmpdir(), 'hwl-agent-hook-term-'));
const procs: ChildProcess[] = [];

beforeAll(async () => {
  server = await TestNatsServer.start();
  proxy = await StallProxy.start(server.port);
});
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await proxy?.close();
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** One HTTP call on a connection of its own: status and JSON body, or the connection error. */
function call(port: number, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const req = request({ host: '127.0.0.1', port, path, method, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(text);
  });
}

const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;
const inference = (requestId: string) => ({ data: { tenant_id: 'acme', request_id: requestId, total_tokens: 512, compute_ms: '1834', reason: 'end_of_sequence' } });

describe('hwledger agent --hook-port: SIGTERM with a hook request in flight', () => {
  it('the request waiting for its PubAck gets its 202 (stored: outbox); requests after the signal are refused; stored exactly once', async () => {
    const chainId = 'cli-hook-drain';
    const outboxDir = join(tmp, 'outbox');
    const port = await freePort();
    const p = spawnCli(['agent', '--nats', proxy.url, '--chain', chainId, '--node', 'svc', '--outbox', outboxDir, '--no-gpu', '--hook-port', String(port), '--publish-timeout-ms', '2000', '--drain-timeout-ms', '0']);
    procs.push(p);
    let stdout = '';
    let stderr = '';
    p.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    await waitFor(async () => (await call(port, 'GET', '/healthz').catch(() => undefined))?.body['nats'] === 'connected', 30_000, 50, `hook up: ${stderr.slice(-500)}`);

    proxy.blackhole(); // the agent stays "connected"; its publish waits for a PubAck that never comes
    const inflight = call(port, 'POST', '/v1/events/inference-completed', inference('in-flight')).catch((e: unknown) => e);
    await waitFor(async () => (await call(port, 'GET', '/healthz')).body['pending'] === 1, 10_000, 10, 'the event waiting for its PubAck');

    p.kill('SIGTERM');
    // The hook stops listening at once...
    await waitFor(async () => errCode(await call(port, 'GET', '/healthz').catch((e: unknown) => e)) === 'ECONNREFUSED', 10_000, 5, 'the hook to stop listening');
    // ...so a request after the signal is refused and stores nothing.
    expect(errCode(await call(port, 'POST', '/v1/events/inference-completed', inference('after-signal')).catch((e: unknown) => e))).toBe('ECONNREFUSED');

    const answer = await inflight;
    if (answer instanceof Error) throw new Error(`the request in flight got no answer: ${answer.message}\n${stderr.slice(-2000)}`);
    expect(answer).toMatchObject({ status: 202, body: { accepted: true, stored: 'outbox', instance_id: 'inference:request_completed:in-flight', duplicate: false } });
    expect(await exited, stderr.slice(-2000)).toBe(0);
    expect(stdout).toMatch(/^accepted 1 \(jetstream 0, outbox 1\); published 0; refused 0; outbox depth 1$/m);
    const held = (await Outbox.readPending(outboxDir)).flatMap((e) => decodeIngestBatch(e.body).events.map((r) => (r.ok ? r.event.instanceId : `undecodable: ${r.message}`)));
    expect(held).toEqual(['inference:request_completed:in-flight']);

    // Flushed by the next run: in the ingest stream exactly once.
    const drain = await runCli(['agent', '--nats', server.url, '--chain', chainId, '--node', 'svc', '--outbox', outboxDir, '--drain-only', '--drain-timeout-ms', '30000']);
    expect(drain.code, drain.stderr.slice(-2000)).toBe(0);
    const nc = await connect({ servers: server.url });
    const events = await ingestEvents(nc, chainId).finally(() => nc.close());
    expect(events.map((e) => e.instanceId)).toEqual(['inference:request_completed:in-flight']);
  });
});
