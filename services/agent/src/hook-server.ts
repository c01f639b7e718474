/**
 * The scheduler hook: a local HTTP endpoint a serving harness calls on job
 * dispatch/completion/failure and on inference request completion (seed 003:
 * "emit BEFORE acknowledging the application-side completion").
 *
 *   POST /v1/events/job-dispatched | job-completed | job-failed | inference-completed
 *        202 {accepted, event_id, source, instance_id, stored: "jetstream"|"outbox", duplicate}
 *            only once the event is durable: PubAck'ed by the ingest stream or
 *            fsync'd in the outbox
 *        400 {error: {code, message}}   malformed input; nothing was stored
 *        409 IDEMPOTENCY_CONFLICT       the key was used for a different body
 *        400 EVENT_TOO_LARGE            the event cannot fit an ingest message (--batch-max-bytes)
 *        400 INVALID_EVENT              the agent refused the event otherwise (not retryable)
 *        413 BODY_TOO_LARGE, 404, 405
 *        503 UNAVAILABLE                neither JetStream nor the outbox took it,
 *                                       or the hook is shutting down
 *        504 MAYBE_STORED               its publish got no answer (JetStream may hold
 *                                       it) and the outbox refused it
 *   GET  /healthz   {status, nats, outbox_depth, pending}
 *   GET  /metrics   Prometheus text (hwl_agent_*)
 *
 * Binds 127.0.0.1 by default: the hook is for the harness on the same host
 * and has no authentication (threat: a remote party injecting billing events).
 * A retry with the same idempotency key (body event_id or Idempotency-Key
 * header) is answered from a bounded cache without a second event; a retry
 * arriving while the first attempt is still being stored waits for it and gets
 * the same answer (202 duplicate, or the same error).
 *
 * Shutdown (close()): stops listening at once (new connections are refused; a
 * request arriving on a connection opened earlier gets 503 UNAVAILABLE and
 * `connection: close`), lets every request already being handled get its real
 * answer (202 once stored, or its error) for up to the drain timeout, and only
 * then closes the remaining connections. Stop the agent after close() resolves:
 * stopping it first would refuse events that are still arriving.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isChainError } from '@hwledger/chain';
import { isHwlError, silentLogger, type Logger } from '@hwledger/core';
import { Counter, type Registry } from 'prom-client';
import type { Agent } from './agent.js';
import { eventFromHookBody, HOOK_ROUTES, HookRequestError, type HookKind } from './hook-request.js';
import { EventTooLargeError, MaybeStoredError, type Acceptance } from './shipper.js';
import { createUlidFactory, type UlidFactory } from './ulid.js';

export interface HookServerOptions {
  agent: Agent;
  /** TCP port (0 = any free port). */
  port: number;
  /** Bind address (default 127.0.0.1). */
  host?: string;
  /** Max request body bytes (default 64 KiB). */
  maxBodyBytes?: number;
  /** Idempotency keys remembered (default 10 000). */
  idempotencyCacheSize?: number;
  /**
   * On close(), how long requests already being handled may take to get their
   * answer before their connections are closed (default 15 000 ms). Size it
   * above the agent's publish timeout: an event waiting for a PubAck goes to
   * the outbox only when that timeout passes.
   */
  drainTimeoutMs?: number;
  logger?: Logger;
  clock?: () => number;
  ids?: UlidFactory;
}

export interface HookServer {
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  /** Requests being handled now (their answer not yet sent). */
  readonly inFlight: number;
  /**
   * Graceful shutdown (see the file comment): refuses new requests at once,
   * waits up to `drainTimeoutMs` (default: the server option) for the answers
   * of the requests already being handled, then closes every connection.
   * Idempotent: later calls return the first call's promise.
   */
  close(opts?: { drainTimeoutMs?: number }): Promise<void>;
}

interface Receipt {
  event_id: string;
  source: string;
  instance_id: string;
  stored: Acceptance['stored'];
}

function send(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: string, message: string, extra: Record<string, string> = {}): void {
  send(res, status, { error: { code, message } }, extra);
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > max) {
      reject(new HookRequestError(413, 'BODY_TOO_LARGE', `body of ${declared} bytes exceeds ${max}`));
      return;
    }
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n <= max) chunks.push(c); // past the bound: read and drop, answer 413 at the end
    });
    req.on('end', () => (n > max ? reject(new HookRequestError(413, 'BODY_TOO_LARGE', `body exceeds ${max} bytes`)) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The answer to an event that was not stored: 400 EVENT_TOO_LARGE when it
 * cannot fit an ingest message (a retry cannot help), else 503 UNAVAILABLE
 * (neither JetStream nor the outbox took it; retry later).
 */
function notStored(e: unknown): HookRequestError {
  if (e instanceof EventTooLargeError) return new HookRequestError(400, 'EVENT_TOO_LARGE', `event not stored: ${e.message}`);
  // Any other refusal of the event itself (it passed the hook's own checks): not retryable either.
  if (isHwlError(e) && e.code === 'INVALID_ARGUMENT') return new HookRequestError(400, 'INVALID_EVENT', `event not stored: ${e.message}`);
  // No answer to its publish, and the outbox refused it: it may be in the stream. Never "not stored" (503).
  if (e instanceof MaybeStoredError) return new HookRequestError(504, 'MAYBE_STORED', `event may have been stored: ${e.message}`);
  return new HookRequestError(503, 'UNAVAILABLE', `event not stored: ${e instanceof Error ? e.message : String(e)}`);
}

/** The receipt of a submission, failures mapped as for the request that made it. */
async function stored(receipt: Promise<Receipt>): Promise<Receipt> {
  try {
    return await receipt;
  } catch (e) {
    throw notStored(e);
  }
}

export async function startHookServer(o: HookServerOptions): Promise<HookServer> {
  const { agent } = o;
  const logger = o.logger ?? silentLogger();
  const clock = o.clock ?? Date.now;
  const ids = o.ids ?? createUlidFactory();
  const maxBody = o.maxBodyBytes ?? 64 * 1024;
  const cacheSize = o.idempotencyCacheSize ?? 10_000;
  const defaultDrainMs = o.drainTimeoutMs ?? 15_000;
  const registry: Registry = agent.registry;
  const requests = new Counter({ name: 'hwl_agent_hook_requests_total', help: 'Scheduler hook requests, by route and status', labelNames: ['route', 'status'], registers: [registry] });
  /** Idempotency key -> the body it was used with and the outcome. */
  const recent = new Map<string, { fingerprint: string; receipt: Promise<Receipt> }>();

  async function handleEvent(kind: HookKind, req: IncomingMessage, res: ServerResponse): Promise<number> {
    const raw = await readBody(req, maxBody);
    let body: unknown;
    try {
      body = JSON.parse(utf8.decode(raw));
    } catch (e) {
      throw new HookRequestError(400, 'INVALID_JSON', `body is not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    const header = req.headers['idempotency-key'];
    const idempotencyKey = typeof header === 'string' && header !== '' ? header : undefined;
    const { event, keyed } = eventFromHookBody(kind, body, { source: agent.source, now: clock(), newEventId: (ms) => ids.next(ms), idempotencyKey });
    const fingerprint = `${kind}\n${JSON.stringify(body)}`;
    if (keyed) {
      const seen = recent.get(event.eventId);
      if (seen) {
        if (seen.fingerprint !== fingerprint) {
          throw new HookRequestError(409, 'IDEMPOTENCY_CONFLICT', `event id ${JSON.stringify(event.eventId)} was already used for a different request`);
        }
        // Still being stored, or stored: the first attempt's outcome, mapped the same way.
        const receipt = await stored(seen.receipt);
        send(res, 202, { accepted: true, ...receipt, duplicate: true });
        return 202;
      }
    }
    const receipt = Promise.resolve()
      .then(() => agent.submit(event))
      .then((a): Receipt => ({ event_id: event.eventId, source: event.source, instance_id: event.instanceId, stored: a.stored }));
    if (keyed) {
      recent.set(event.eventId, { fingerprint, receipt });
      if (recent.size > cacheSize) recent.delete(recent.keys().next().value!);
      receipt.catch(() => recent.delete(event.eventId));
    }
    const r = await stored(receipt);
    send(res, 202, { accepted: true, ...r, duplicate: false });
    return 202;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const kind = (HOOK_ROUTES as Record<string, HookKind | undefined>)[path];
    let status = 500;
    try {
      if (closing !== undefined) {
        res.setHeader('connection', 'close');
        throw new HookRequestError(503, 'UNAVAILABLE', 'the agent hook is shutting down: this request was not taken; retry it once the agent is back');
      }
      if (kind !== undefined) {
        if (req.method !== 'POST') throw new HookRequestError(405, 'METHOD_NOT_ALLOWED', `${path} takes POST`);
        status = await handleEvent(kind, req, res);
      } else if (path === '/healthz') {
        if (req.method !== 'GET') throw new HookRequestError(405, 'METHOD_NOT_ALLOWED', `${path} takes GET`);
        send(res, 200, { status: 'ok', nats: agent.connected ? 'connected' : 'disconnected', outbox_depth: agent.outbox.depthEvents, pending: agent.pending });
        status = 200;
      } else if (path === '/metrics') {
        if (req.method !== 'GET') throw new HookRequestError(405, 'METHOD_NOT_ALLOWED', `${path} takes GET`);
        const text = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
        status = 200;
      } else {
        throw new HookRequestError(404, 'NOT_FOUND', `no route ${path}`);
      }
    } catch (e) {
      if (e instanceof HookRequestError) {
        status = e.status;
        sendError(res, e.status, e.code, e.message, e.status === 405 ? { allow: kind !== undefined ? 'POST' : 'GET' } : e.status === 413 ? { connection: 'close' } : {});
      } else if (isChainError(e)) {
        status = 400;
        sendError(res, 400, e.code, e.message);
      } else {
        status = 500;
        logger.error({ err: e instanceof Error ? e.message : String(e), path }, 'agent: hook request failed');
        sendError(res, 500, 'INTERNAL', e instanceof Error ? e.message : String(e));
      }
    } finally {
      requests.inc({ route: kind !== undefined || path === '/healthz' || path === '/metrics' ? path : 'other', status: String(status) });
    }
  }

  /** Requests whose answer is not yet handed to the OS -> settles when it is (or the connection died). */
  const inflight = new Map<ServerResponse, Promise<void>>();
  let closing: Promise<void> | undefined;

  const server: Server = createServer((req, res) => {
    inflight.set(
      res,
      new Promise<void>((resolve) => {
        const done = (): void => {
          inflight.delete(res);
          resolve();
        };
        res.once('finish', done);
        res.once('close', done);
      }),
    );
    void handle(req, res);
  });

  async function shutdown(drainMs: number): Promise<void> {
    // Stop listening: new connections are refused from now on. (Node also closes
    // the idle keep-alive connections here; a request still arriving on another
    // open connection is answered 503 by handle().)
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // Answers still owed end their connection: the client must not reuse it.
    for (const res of inflight.keys()) if (!res.headersSent) res.setHeader('connection', 'close');
    if (inflight.size > 0) {
      logger.info({ inFlight: inflight.size, drainTimeoutMs: drainMs }, 'agent: scheduler hook closing; waiting for the answers of requests in flight');
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<'expired'>((resolve) => {
        timer = setTimeout(() => resolve('expired'), drainMs);
      });
      // Requests answered 503 while draining join the map; wait until it is empty
      // (once the timer has fired, every race below ends at once).
      while (inflight.size > 0) {
        if ((await Promise.race([Promise.all(inflight.values()), expired])) === 'expired') break;
      }
      clearTimeout(timer);
      if (inflight.size > 0) {
        logger.warn({ unanswered: inflight.size, drainTimeoutMs: drainMs }, 'agent: scheduler hook drain timed out; closing the connections of requests still unanswered');
      }
    }
    server.closeAllConnections();
    await closed;
  }
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ host, port }, 'agent: scheduler hook listening');
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    get inFlight() {
      return inflight.size;
    },
    close: (opts = {}) => (closing ??= shutdown(opts.drainTimeoutMs ?? defaultDrainMs)),
  };
}
