/**
 * Who is asking, after authentication, and the access rules (docs/api.md
 * "Access"): an operator key reads everything; a tenant key reads only its
 * own tenant's data and none of the device-level or fleet views (those mix
 * every tenant's usage). Threat: a tenant reading another tenant's usage,
 * costs or audit trail.
 */
import { HwlError } from '@hwledger/core';

export type Role = 'operator' | 'tenant';

export type Caller = { keyId: string; role: 'operator' } | { keyId: string; role: 'tenant'; tenant: string };

export function requireOperator(caller: Caller, what: string): void {
  if (caller.role !== 'operator') throw new HwlError('PERMISSION_DENIED', `${what} is available to operator keys only`);
}

/** Allows an operator, or the tenant key of `tenant`. */
export function requireTenant(caller: Caller, tenant: string, what: string): void {
  if (caller.role === 'operator') return;
  if (caller.tenant !== tenant) throw new HwlError('PERMISSION_DENIED', `this key may read tenant ${JSON.stringify(caller.tenant)} only, not ${what}`);
}
