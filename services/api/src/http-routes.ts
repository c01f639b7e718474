/**
 * HTTP/JSON routes of the query API (docs/api.md): each maps a path and its
 * query parameters onto the request message of the gRPC operation of the
 * same name, so both transports run the same code with the same validation.
 * Unknown or repeated query parameters are 400: a typo (`form_ms`) must not
 * silently widen a query.
 */
import { HwlError } from '@hwledger/core';
import type { Caller } from './caller.js';
import type { LedgerQuery } from './ledger-query.js';
import { parseU32Param, parseU64Param } from './validate.js';

export interface Route {
  /** Pattern used as the metrics label, e.g. /v1/audit/{key}. */
  pattern: string;
  /** Path segments; `{name}` captures one. */
  segments: string[];
  params: string[];
  handle(api: LedgerQuery, caller: Caller, path: Record<string, string>, query: Query): Promise<unknown>;
}

/** Validated access to the query string. */
export class Query {
  constructor(private readonly params: URLSearchParams) {}

  /** Rejects parameters the route does not know and repeated ones. */
  check(allowed: string[]): void {
    const seen = new Set<string>();
    for (const k of this.params.keys()) {
      if (!allowed.includes(k)) throw new HwlError('INVALID_ARGUMENT', `unknown query parameter ${JSON.stringify(k)} (this route takes: ${allowed.join(', ') || 'none'})`);
      if (seen.has(k)) throw new HwlError('INVALID_ARGUMENT', `query parameter ${JSON.stringify(k)} given twice`);
      seen.add(k);
    }
  }

  str(name: string): string {
    return this.params.get(name) ?? '';
  }

  u64(name: string): bigint {
    return parseU64Param(this.params.get(name), name);
  }

  /** A tree size, or `latest` (the same as absent or 0). */
  sizeOrLatest(name: string): bigint {
    return this.params.get(name) === 'latest' ? 0n : this.u64(name);
  }

  u32(name: string): number {
    return parseU32Param(this.params.get(name), name);
  }
}

const PAGE = ['page_size', 'page_token'];

function route(pattern: string, params: string[], handle: Route['handle']): Route {
  return { pattern, segments: pattern.split('/').filter((s) => s !== ''), params, handle };
}

/** A path capture; an empty one (`/v1/devices//cost`) is a bad request, never a default. */
function must(path: Record<string, string>, name: string): string {
  const v = path[name] ?? '';
  if (v === '') throw new HwlError('INVALID_ARGUMENT', `the {${name}} path segment is empty`);
  return v;
}

export const ROUTES: Route[] = [
  route('/v1/audit/{key}', ['chain_id', ...PAGE], (api, c, p, qs) =>
    api.getAuditTrail(c, { key: must(p, 'key'), chainId: qs.str('chain_id'), pageSize: qs.u32('page_size'), pageToken: qs.str('page_token') }),
  ),
  route('/v1/tenants', ['chain_id', ...PAGE], (api, c, _p, qs) =>
    api.listTenants(c, { chainId: qs.str('chain_id'), pageSize: qs.u32('page_size'), pageToken: qs.str('page_token') }),
  ),
  route('/v1/tenants/{tenant}/summary', ['chain_id', 'from_ms', 'to_ms'], (api, c, p, qs) =>
    api.getTenantSummary(c, { tenant: must(p, 'tenant'), chainId: qs.str('chain_id'), fromMs: qs.u64('from_ms'), toMs: qs.u64('to_ms') }),
  ),
  route('/v1/cost', ['chain_id', 'from_ms', 'to_ms'], (api, c, _p, qs) =>
    api.getCostSummary(c, { deviceId: '', chainId: qs.str('chain_id'), fromMs: qs.u64('from_ms'), toMs: qs.u64('to_ms') }),
  ),
  route('/v1/devices/{id}/cost', ['chain_id', 'from_ms', 'to_ms'], (api, c, p, qs) =>
    api.getCostSummary(c, { deviceId: must(p, 'id'), chainId: qs.str('chain_id'), fromMs: qs.u64('from_ms'), toMs: qs.u64('to_ms') }),
  ),
  route('/v1/devices/{id}/dispatches', ['chain_id', ...PAGE], (api, c, p, qs) =>
    api.getDispatchHistory(c, { deviceId: must(p, 'id'), chainId: qs.str('chain_id'), pageSize: qs.u32('page_size'), pageToken: qs.str('page_token') }),
  ),
  route('/v1/jobs/{id}/reconciliation', ['chain_id'], (api, c, p, qs) => api.getReconciliation(c, { jobId: must(p, 'id'), chainId: qs.str('chain_id') })),
  route('/v1/reconciliation/flags', ['chain_id', 'flag', ...PAGE], (api, c, _p, qs) =>
    api.listFlaggedJobs(c, { flag: qs.str('flag'), chainId: qs.str('chain_id'), pageSize: qs.u32('page_size'), pageToken: qs.str('page_token') }),
  ),
  route('/v1/reconciliation/fleet', ['chain_id'], (api, c, _p, qs) => api.getFleetReconciliation(c, { chainId: qs.str('chain_id') })),
  route('/v1/chain/status', [], (api, c) => api.getChainStatus(c, { chainId: '' })),
  route('/v1/chain/verify', ['from', 'to'], (api, c, _p, qs) => api.verifyRange(c, { chainId: '', from: qs.u64('from'), to: qs.u64('to') })),
  route('/v1/chains/{id}/status', [], (api, c, p) => api.getChainStatus(c, { chainId: must(p, 'id') })),
  route('/v1/chains/{id}/verify', ['from', 'to'], (api, c, p, qs) => api.verifyRange(c, { chainId: must(p, 'id'), from: qs.u64('from'), to: qs.u64('to') })),
  // Checkpoints and proofs (docs/proofs.md "Through the API").
  route('/v1/chain/checkpoints', PAGE, (api, c, _p, qs) => api.getCheckpoints(c, { chainId: '', pageSize: qs.u32('page_size'), pageToken: qs.str('page_token') })),
  route('/v1/chains/{id}/checkpoints', PAGE, (api, c, p, qs) =>
    api.getCheckpoints(c, { chainId: must(p, 'id'), pageSize: qs.u32('page_size'), pageToken: qs.str('page_token') }),
  ),
  route('/v1/chain/proofs/inclusion', ['sequence', 'checkpoint'], (api, c, _p, qs) =>
    api.getInclusionProof(c, { chainId: '', sequence: qs.u64('sequence'), checkpointSize: qs.sizeOrLatest('checkpoint') }),
  ),
  route('/v1/chains/{id}/proofs/inclusion', ['sequence', 'checkpoint'], (api, c, p, qs) =>
    api.getInclusionProof(c, { chainId: must(p, 'id'), sequence: qs.u64('sequence'), checkpointSize: qs.sizeOrLatest('checkpoint') }),
  ),
  route('/v1/chain/proofs/consistency', ['from', 'to'], (api, c, _p, qs) => api.getConsistencyProof(c, { chainId: '', fromSize: qs.u64('from'), toSize: qs.sizeOrLatest('to') })),
  route('/v1/chains/{id}/proofs/consistency', ['from', 'to'], (api, c, p, qs) =>
    api.getConsistencyProof(c, { chainId: must(p, 'id'), fromSize: qs.u64('from'), toSize: qs.sizeOrLatest('to') }),
  ),
  route('/v1/fleet/status', [], (api, c) => api.getFleetStatus(c, { fleet: '' })),
  route('/v1/fleet/{name}/status', [], (api, c, p) => api.getFleetStatus(c, { fleet: must(p, 'name') })),
];

/** The route matching decoded path segments, with its captures. */
export function matchRoute(segments: string[]): { route: Route; path: Record<string, string> } | undefined {
  for (const r of ROUTES) {
    if (r.segments.length !== segments.length) continue;
    const path: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < r.segments.length && ok; i++) {
      const want = r.segments[i] ?? '';
      const got = segments[i] ?? '';
      if (want.startsWith('{')) path[want.slice(1, -1)] = got;
      else ok = want === got;
    }
    if (ok) return { route: r, path };
  }
  return undefined;
}
