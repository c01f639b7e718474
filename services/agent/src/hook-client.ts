/**
 * Typed client of the agent's scheduler hook (hook-server.ts), for serving
 * harnesses written in TypeScript. Each call resolves only after the agent
 * answered 202, i.e. once the event is durable; call it BEFORE acknowledging
 * the completion to your own caller (seed 003). Pass `eventId` (an
 * idempotency key) to make your own retries safe: a repeated call with the
 * same key and body returns the first receipt instead of a second event.
 *
 * A call that gets no answer fails with status 0 and a transport code
 * (HookTransportCode). Only UNREACHABLE says nothing was stored (the
 * connection was never made). After TIMEOUT or CONNECTION_LOST the agent
 * may well have stored the event (it answers only once the event is durable,
 * and a slow PubAck can take longer than the client waits): retry with the
 * same `eventId`, which is answered with the first receipt (`duplicate:
 * true`) if it was stored. Without an `eventId` such a retry can record the
 * event twice. `HookError.mayBeStored` says which case it is.
 */
import type { CompletionReason, InferenceRequestCompletedData, JobCompletedData, JobDispatchedData, JobFailedData } from '@hwledger/chain';

export interface HookReceipt {
  eventId: string;
  source: string;
  instanceId: string;
  stored: 'jetstream' | 'outbox';
  duplicate: boolean;
}

export interface HookCallOptions {
  /** Idempotency key used as the event id (unique per agent). */
  eventId?: string;
  /** When it happened (unix ms); default: when the agent received the call. */
  observedAtMs?: bigint;
  /** Envelope tenant (jobs; inference uses data.tenant_id). */
  tenant?: string;
}

/**
 * Why a call got no answer (HookError.status 0):
 * - UNREACHABLE: the connection was refused or the host not found: the
 *   request never reached the agent, nothing was stored.
 * - TIMEOUT: no complete answer within `timeoutMs`: the event may have been stored.
 * - CONNECTION_LOST: the connection failed after it was made: the event may have been stored.
 * - BAD_RESPONSE: a 202 whose body is not a receipt: the event was stored, the receipt is unreadable.
 */
export type HookTransportCode = 'UNREACHABLE' | 'TIMEOUT' | 'CONNECTION_LOST' | 'BAD_RESPONSE';

/** Socket errors that mean the request never reached a server (undici reports them as the cause of "fetch failed"). */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * The hook refused the call (HTTP `status` and the agent's error `code`:
 * INVALID_FIELD, UNAVAILABLE, … docs/agent.md), or the call got no answer
 * (`status` 0 and a HookTransportCode).
 */
export class HookError extends Error {
  override readonly name = 'HookError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  /**
   * Whether the event may have been stored although the call failed: after
   * TIMEOUT, CONNECTION_LOST or BAD_RESPONSE, and after an HTTP 5xx other
   * than 503 (the agent answers 503 only when nothing was stored). Retry
   * such a call with the same `eventId` to learn which.
   */
  get mayBeStored(): boolean {
    if (this.status === 0) return this.code !== 'UNREACHABLE';
    return this.status >= 500 && this.status !== 503;
  }
}

/** The HookError of a fetch (or body read) that failed without an HTTP answer. */
function transportError(base: string, e: unknown, phase: 'request' | 'answer'): HookError {
  const err = e as { name?: string; message?: string; cause?: { code?: string; name?: string; message?: string } } | undefined;
  const detail = err?.cause?.message ?? err?.message ?? String(e);
  if (err?.name === 'TimeoutError' || err?.cause?.name === 'TimeoutError') {
    return new HookError(0, 'TIMEOUT', `agent hook ${base} did not answer in time (${phase}): the event may have been stored; retry with the same eventId`);
  }
  if (phase === 'request' && NOT_SENT.has(err?.cause?.code ?? '')) {
    return new HookError(0, 'UNREACHABLE', `agent hook ${base} unreachable: ${detail}`);
  }
  return new HookError(0, 'CONNECTION_LOST', `agent hook ${base}: connection lost (${detail}): the event may have been stored; retry with the same eventId`);
}

type Json = Record<string, string | number>;

function toJson(data: object): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(data)) out[k] = typeof v === 'bigint' ? v.toString() : (v as string | number);
  return out;
}

export class HookClient {
  private readonly base: string;

  /** `baseUrl` e.g. http://127.0.0.1:7171 */
  constructor(
    baseUrl: string,
    private readonly opts: { timeoutMs?: number } = {},
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  private async post(path: string, data: object, o: HookCallOptions): Promise<HookReceipt> {
    const body: Record<string, unknown> = { data: toJson(data) };
    if (o.tenant !== undefined) body['tenant'] = o.tenant;
    if (o.eventId !== undefined) body['event_id'] = o.eventId;
    if (o.observedAtMs !== undefined) body['observed_at_ms'] = o.observedAtMs.toString();
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (e) {
      throw transportError(this.base, e, 'request');
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw transportError(this.base, e, 'answer');
    }
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON: reported below
    }
    if (res.status !== 202) {
      const err = (json['error'] ?? {}) as { code?: string; message?: string };
      throw new HookError(res.status, err.code ?? `HTTP_${res.status}`, err.message ?? (text.slice(0, 200) || res.statusText));
    }
    const { event_id: eventId, source, instance_id: instanceId, stored, duplicate } = json;
    if (typeof eventId !== 'string' || typeof source !== 'string' || typeof instanceId !== 'string' || (stored !== 'outbox' && stored !== 'jetstream') || typeof duplicate !== 'boolean') {
      throw new HookError(0, 'BAD_RESPONSE', `agent hook ${this.base} answered 202 without a receipt (${text.slice(0, 200)}): the event was stored`);
    }
    return { eventId, source, instanceId, stored, duplicate };
  }

  jobDispatched(data: JobDispatchedData, o: HookCallOptions = {}): Promise<HookReceipt> {
    return this.post('/v1/events/job-dispatched', data, o);
  }

  jobCompleted(data: JobCompletedData, o: HookCallOptions = {}): Promise<HookReceipt> {
    return this.post('/v1/events/job-completed', data, o);
  }

  jobFailed(data: JobFailedData, o: HookCallOptions = {}): Promise<HookReceipt> {
    return this.post('/v1/events/job-failed', data, o);
  }

  inferenceCompleted(data: InferenceRequestCompletedData & { reason: CompletionReason }, o: Omit<HookCallOptions, 'tenant'> = {}): Promise<HookReceipt> {
    return this.post('/v1/events/inference-completed', data, o);
  }

  async healthz(): Promise<{ status: string; nats: string; outbox_depth: number; pending: number }> {
    const res = await fetch(`${this.base}/healthz`, { signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000) });
    if (!res.ok) throw new HookError(res.status, `HTTP_${res.status}`, await res.text());
    return (await res.json()) as { status: string; nats: string; outbox_depth: number; pending: number };
  }
}
