/**
 * Turns a scheduler-hook request into a chain event. Body = the spec's JSON
 * form of an event less what the agent fills in:
 *
 *   { "tenant"?: "acme", "event_id"?: "...", "observed_at_ms"?: "1763...",
 *     "data": { ...the kind's payload, u64 as decimal strings } }
 *
 * The agent fills `kind` (from the route), `source` (<chain>/<node>),
 * `instance_id` (job:<job_id> / inference:request_completed:<request_id>),
 * `observed_at_ms` (now) and `event_id` (a fresh ULID) unless the caller
 * supplies an idempotency key as `event_id` or the `Idempotency-Key` header.
 * For inference the tenant defaults to data.tenant_id (the spec requires them
 * equal). Input is untrusted: every member is checked (eventFromJson, then
 * the sequencer's own admission policy validateEvent), so a request the
 * sequencer would dead-letter is refused here with 400 instead.
 */
import { eventFromJson, validateEvent, type ChainEvent, type KindName } from '@hwledger/chain';
import { instanceIds } from './event-builders.js';

export const HOOK_ROUTES = {
  '/v1/events/job-dispatched': 'job_dispatched',
  '/v1/events/job-completed': 'job_completed',
  '/v1/events/job-failed': 'job_failed',
  '/v1/events/inference-completed': 'inference_request_completed',
} as const satisfies Record<string, KindName>;

export type HookRoute = keyof typeof HOOK_ROUTES;
export type HookKind = (typeof HOOK_ROUTES)[HookRoute];

export type HookErrorCode = 'INVALID_JSON' | 'INVALID_FIELD' | 'INVALID_UTF8' | 'UNKNOWN_KIND' | 'BODY_TOO_LARGE' | 'EVENT_TOO_LARGE' | 'INVALID_EVENT' | 'IDEMPOTENCY_CONFLICT' | 'NOT_FOUND' | 'METHOD_NOT_ALLOWED' | 'UNAVAILABLE' | 'INTERNAL';

/** A refused hook request: `status` and a stable `code` for the JSON error body. */
export class HookRequestError extends Error {
  override readonly name = 'HookRequestError';
  constructor(
    readonly status: number,
    readonly code: HookErrorCode | string,
    message: string,
  ) {
    super(message);
  }
}

const ALLOWED = new Set(['tenant', 'event_id', 'observed_at_ms', 'data']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface HookContext {
  source: string;
  /** Unix ms now. */
  now: number;
  /** A fresh event id for an event observed at `ms`. */
  newEventId: (ms: number) => string;
  /** The Idempotency-Key header, if any. */
  idempotencyKey?: string;
}

/** The caller-chosen parts of a hook body (for idempotency comparisons). */
export interface ParsedHook {
  event: ChainEvent;
  /** True when the caller supplied the event id (idempotency key). */
  keyed: boolean;
}

/** Parses and validates a hook body; throws HookRequestError (400) or ChainError. */
export function eventFromHookBody(kind: HookKind, body: unknown, ctx: HookContext): ParsedHook {
  if (!isObject(body)) throw new HookRequestError(400, 'INVALID_JSON', 'body: expected a JSON object');
  for (const k of Object.keys(body)) {
    if (!ALLOWED.has(k)) throw new HookRequestError(400, 'INVALID_FIELD', `${k}: unknown member (allowed: tenant, event_id, observed_at_ms, data)`);
  }
  const data = body['data'];
  if (!isObject(data)) throw new HookRequestError(400, 'INVALID_FIELD', 'data: expected a JSON object');
  const bodyKey = body['event_id'];
  if (bodyKey !== undefined && typeof bodyKey !== 'string') throw new HookRequestError(400, 'INVALID_FIELD', 'event_id: expected a string');
  if (bodyKey !== undefined && ctx.idempotencyKey !== undefined && bodyKey !== ctx.idempotencyKey) {
    throw new HookRequestError(400, 'INVALID_FIELD', 'event_id and the Idempotency-Key header differ');
  }
  const key = bodyKey ?? ctx.idempotencyKey;
  let instanceId = '';
  let tenant = body['tenant'];
  if (kind === 'inference_request_completed') {
    if (typeof data['request_id'] === 'string') instanceId = instanceIds.inference(data['request_id']);
    tenant ??= data['tenant_id'];
  } else if (typeof data['job_id'] === 'string') {
    instanceId = instanceIds.job(data['job_id']);
  }
  const observed = body['observed_at_ms'] ?? String(ctx.now);
  const json = {
    kind,
    source: ctx.source,
    event_id: key ?? ctx.newEventId(ctx.now),
    observed_at_ms: observed,
    tenant: tenant ?? '',
    instance_id: instanceId,
    data,
  };
  const event = eventFromJson(json, 'body');
  validateEvent(event);
  return { event, keyed: key !== undefined };
}
