/**
 * Typed client of the agent's scheduler hook (hook-server.ts), for serving
 * harnesses written in TypeScript. Each call resolves only after the agent
 * answered 202, i.e. once the event is durable; call it BEFORE acknowledging
 * the completion to your own caller (seed 003). Pass `eventId` (an
 * idempotency key) to make your own retries safe: a repeated call with the
 * same key and body returns the first receipt instead of a second event.
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

/** The hook refused the call: HTTP `status` and the agent's error `code`. */
export class HookError extends Error {
  override readonly name = 'HookError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
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
      throw new HookError(0, 'UNREACHABLE', `agent hook ${this.base} unreachable: ${e instanceof Error ? e.message : String(e)}`);
    }
    const text = await res.text();
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
    return {
      eventId: String(json['event_id']),
      source: String(json['source']),
      instanceId: String(json['instance_id']),
      stored: json['stored'] === 'outbox' ? 'outbox' : 'jetstream',
      duplicate: json['duplicate'] === true,
    };
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
