/**
 * Admission policy for events the sequencer seals. The wire format accepts
 * any UTF-8 and any value of the field's type; a ledger should not. Producers
 * are untrusted: everything here is a reason to dead-letter, not to crash.
 */
import { isWellFormed, utf8Length } from './bytes.js';
import { ChainError } from './errors.js';
import { KIND_FIELDS, isCompletionReason, isKindName } from './kinds.js';
import type { ChainEvent } from './record.js';

export interface ValidationLimits {
  /** Max UTF-8 bytes of identifier strings (source, ids, tenant, names). */
  maxIdBytes: number;
  /** Max UTF-8 bytes of free text (job_failed.error_message, device_type). */
  maxTextBytes: number;
}

export const DEFAULT_LIMITS: ValidationLimits = { maxIdBytes: 256, maxTextBytes: 4096 };

/** Chain ids and tenants appear as NATS subject tokens (spec: "Chain stream"). */
export const SUBJECT_TOKEN_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

const FREE_TEXT = new Set(['error_message', 'device_type', 'hostname']);

/**
 * The control characters no string of a record may hold: all but tab, LF and
 * CR. Readers that look records up by an id (the API, the projector's
 * queries) accept exactly what this lets onto the chain.
 */
// eslint-disable-next-line no-control-regex
export const FORBIDDEN_CONTROL_RE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function checkStr(s: string, path: string, max: number, allowEmpty: boolean): void {
  if (!isWellFormed(s)) throw new ChainError('INVALID_UTF8', `${path}: contains a lone surrogate`);
  const n = utf8Length(s);
  if (!allowEmpty && n === 0) throw new ChainError('INVALID_FIELD', `${path}: must not be empty`);
  if (n > max) throw new ChainError('INVALID_FIELD', `${path}: ${n} bytes exceeds the limit of ${max}`);
  // Control characters other than tab/newline have no place in identifiers or text.
  if (FORBIDDEN_CONTROL_RE.test(s)) {
    throw new ChainError('INVALID_FIELD', `${path}: contains control characters`);
  }
}

export function isValidChainId(s: unknown): s is string {
  return typeof s === 'string' && SUBJECT_TOKEN_RE.test(s);
}

/**
 * Throws ChainError (INVALID_FIELD / UNKNOWN_KIND / INVALID_UTF8) naming the
 * first offending member; returns normally when the event may be sealed.
 */
export function validateEvent(e: ChainEvent, limits: ValidationLimits = DEFAULT_LIMITS): void {
  if (!isKindName(e.kind)) throw new ChainError('UNKNOWN_KIND', `kind ${JSON.stringify(e.kind)} is not defined`);
  checkStr(e.source, 'source', limits.maxIdBytes, false);
  checkStr(e.eventId, 'event_id', limits.maxIdBytes, false);
  checkStr(e.instanceId, 'instance_id', limits.maxIdBytes, false);
  if (e.tenant !== '' && !SUBJECT_TOKEN_RE.test(e.tenant)) {
    throw new ChainError('INVALID_FIELD', 'tenant: must be empty or match [A-Za-z0-9][A-Za-z0-9_-]{0,127}');
  }
  if (e.observedAtMs <= 0n) throw new ChainError('INVALID_FIELD', 'observed_at_ms: must be positive');
  const d = e.data as unknown as Record<string, unknown>;
  for (const spec of KIND_FIELDS[e.kind]) {
    const v = d[spec.name];
    const path = `data.${spec.name}`;
    if (spec.type === 'str') {
      if (typeof v !== 'string') throw new ChainError('INVALID_FIELD', `${path}: expected a string`);
      checkStr(v, path, FREE_TEXT.has(spec.name) ? limits.maxTextBytes : limits.maxIdBytes, false);
    }
  }
  switch (e.kind) {
    case 'metrics_collected':
      if (e.data.utilization_pct > 100) throw new ChainError('INVALID_FIELD', 'data.utilization_pct: above 100');
      if (e.data.vram_total_mib === 0n) throw new ChainError('INVALID_FIELD', 'data.vram_total_mib: must be positive');
      break;
    case 'device_registered':
      if (e.data.vram_total_mib === 0n) throw new ChainError('INVALID_FIELD', 'data.vram_total_mib: must be positive');
      break;
    case 'inference_request_completed':
      if (!isCompletionReason(e.data.reason)) {
        throw new ChainError('INVALID_FIELD', `data.reason: unknown completion reason ${JSON.stringify(e.data.reason)}`);
      }
      if (e.tenant !== e.data.tenant_id) {
        throw new ChainError('INVALID_FIELD', 'data.tenant_id: must equal the record tenant (identity.tenant)');
      }
      break;
    default:
      break;
  }
}
