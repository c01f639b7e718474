/**
 * A client of the query API over either transport, answering the same
 * generated message types: `http(s)://host:port` speaks HTTP/JSON,
 * `grpc://host:port` (or a bare `host:port`) gRPC, `grpcs://` gRPC over TLS.
 * Errors are HwlError with the API's code (UNAUTHENTICATED, PERMISSION_DENIED,
 * INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, INTERNAL) and its message.
 */
import { credentials, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { HwlError, type HwlErrorCode } from '@hwledger/core';
import { query as q } from '@hwledger/proto';

export interface ApiClient {
  readonly transport: 'http' | 'grpc';
  getAuditTrail(req: Partial<q.GetAuditTrailRequest>): Promise<q.GetAuditTrailResponse>;
  listTenants(req: Partial<q.ListTenantsRequest>): Promise<q.ListTenantsResponse>;
  getTenantSummary(req: Partial<q.GetTenantSummaryRequest>): Promise<q.GetTenantSummaryResponse>;
  getCostSummary(req: Partial<q.GetCostSummaryRequest>): Promise<q.GetCostSummaryResponse>;
  getDispatchHistory(req: Partial<q.GetDispatchHistoryRequest>): Promise<q.GetDispatchHistoryResponse>;
  getReconciliation(req: Partial<q.GetReconciliationRequest>): Promise<q.GetReconciliationResponse>;
  listFlaggedJobs(req: Partial<q.ListFlaggedJobsRequest>): Promise<q.ListFlaggedJobsResponse>;
  getFleetReconciliation(req: Partial<q.GetFleetReconciliationRequest>): Promise<q.GetFleetReconciliationResponse>;
  getChainStatus(req: Partial<q.GetChainStatusRequest>): Promise<q.GetChainStatusResponse>;
  verifyRange(req: Partial<q.VerifyRangeRequest>): Promise<q.VerifyRangeResponse>;
  getCheckpoints(req: Partial<q.GetCheckpointsRequest>): Promise<q.GetCheckpointsResponse>;
  getInclusionProof(req: Partial<q.GetInclusionProofRequest>): Promise<q.GetInclusionProofResponse>;
  getConsistencyProof(req: Partial<q.GetConsistencyProofRequest>): Promise<q.GetConsistencyProofResponse>;
  getFleetStatus(req: Partial<q.GetFleetStatusRequest>): Promise<q.GetFleetStatusResponse>;
  health(): Promise<q.HealthResponse>;
  ready(): Promise<q.ReadyResponse>;
  close(): void;
}

const API_CODES = new Set<HwlErrorCode>(['INVALID_ARGUMENT', 'NOT_FOUND', 'PERMISSION_DENIED', 'UNAUTHENTICATED', 'UNAVAILABLE', 'FAILED_PRECONDITION', 'INTEGRITY', 'INTERNAL']);

function apiCode(name: unknown): HwlErrorCode {
  return typeof name === 'string' && API_CODES.has(name as HwlErrorCode) ? (name as HwlErrorCode) : 'INTERNAL';
}

export function createApiClient(url: string, key: string | undefined, opts: { timeoutMs?: number } = {}): ApiClient {
  if (/^https?:\/\//i.test(url)) return new HttpApiClient(url, key, opts.timeoutMs ?? 30_000);
  const m = /^(grpcs?:\/\/)?([^/]+?)\/?$/i.exec(url);
  if (!m?.[2]) throw new HwlError('CONFIG', `API URL ${JSON.stringify(url)}: use http://host:port, https://…, grpc://host:port or grpcs://host:port`);
  return new GrpcApiClient(m[2], (m[1] ?? '').toLowerCase() === 'grpcs://', key, opts.timeoutMs ?? 30_000);
}

// ---- HTTP ----

type QueryValue = string | number | bigint | undefined;

class HttpApiClient implements ApiClient {
  readonly transport = 'http' as const;
  private readonly base: string;

  constructor(
    base: string,
    private readonly key: string | undefined,
    private readonly timeoutMs: number,
  ) {
    this.base = base.replace(/\/+$/, '');
  }

  private async get(path: string, query: Record<string, QueryValue>, okStatuses: number[] = []): Promise<unknown> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === '' || v === 0 || v === 0n) continue;
      qs.set(k, String(v));
    }
    const url = `${this.base}${path}${qs.size > 0 ? `?${qs.toString()}` : ''}`;
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { accept: 'application/json', ...(this.key ? { authorization: `Bearer ${this.key}` } : {}) },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new HwlError('UNAVAILABLE', `cannot reach the API at ${this.base}: ${e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)}`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new HwlError(res.ok ? 'INTERNAL' : apiCodeOfStatus(res.status), `the API answered ${res.status} with a non-JSON body`);
    }
    if (!res.ok && !okStatuses.includes(res.status)) {
      const o = (body ?? {}) as { code?: unknown; message?: unknown };
      throw new HwlError(API_CODES.has(o.code as HwlErrorCode) ? apiCode(o.code) : apiCodeOfStatus(res.status), typeof o.message === 'string' ? o.message : `HTTP ${res.status}`);
    }
    return body;
  }

  private seg(v: string | undefined): string {
    // URL parsers remove dot segments (escaped or not): /v1/devices/../cost would ask for /v1/cost, the fleet.
    if (v === '.' || v === '..') throw new HwlError('INVALID_ARGUMENT', `the id ${JSON.stringify(v)} cannot be sent in an HTTP path (a dot segment): use the gRPC API (grpc://)`);
    return encodeURIComponent(v ?? '');
  }

  async getAuditTrail(r: Partial<q.GetAuditTrailRequest>): Promise<q.GetAuditTrailResponse> {
    const body = await this.get(`/v1/audit/${this.seg(r.key)}`, { chain_id: r.chainId, page_size: r.pageSize, page_token: r.pageToken });
    return q.GetAuditTrailResponse.fromJSON(body);
  }
  async listTenants(r: Partial<q.ListTenantsRequest>): Promise<q.ListTenantsResponse> {
    return q.ListTenantsResponse.fromJSON(await this.get('/v1/tenants', { chain_id: r.chainId, page_size: r.pageSize, page_token: r.pageToken }));
  }
  async getTenantSummary(r: Partial<q.GetTenantSummaryRequest>): Promise<q.GetTenantSummaryResponse> {
    const body = await this.get(`/v1/tenants/${this.seg(r.tenant)}/summary`, { chain_id: r.chainId, from_ms: r.fromMs, to_ms: r.toMs });
    return q.GetTenantSummaryResponse.fromJSON(body);
  }
  async getCostSummary(r: Partial<q.GetCostSummaryRequest>): Promise<q.GetCostSummaryResponse> {
    const path = r.deviceId ? `/v1/devices/${this.seg(r.deviceId)}/cost` : '/v1/cost';
    return q.GetCostSummaryResponse.fromJSON(await this.get(path, { chain_id: r.chainId, from_ms: r.fromMs, to_ms: r.toMs }));
  }
  async getDispatchHistory(r: Partial<q.GetDispatchHistoryRequest>): Promise<q.GetDispatchHistoryResponse> {
    const body = await this.get(`/v1/devices/${this.seg(r.deviceId)}/dispatches`, { chain_id: r.chainId, page_size: r.pageSize, page_token: r.pageToken });
    return q.GetDispatchHistoryResponse.fromJSON(body);
  }
  async getReconciliation(r: Partial<q.GetReconciliationRequest>): Promise<q.GetReconciliationResponse> {
    return q.GetReconciliationResponse.fromJSON(await this.get(`/v1/jobs/${this.seg(r.jobId)}/reconciliation`, { chain_id: r.chainId }));
  }
  async listFlaggedJobs(r: Partial<q.ListFlaggedJobsRequest>): Promise<q.ListFlaggedJobsResponse> {
    const body = await this.get('/v1/reconciliation/flags', { chain_id: r.chainId, flag: r.flag, page_size: r.pageSize, page_token: r.pageToken });
    return q.ListFlaggedJobsResponse.fromJSON(body);
  }
  async getFleetReconciliation(r: Partial<q.GetFleetReconciliationRequest>): Promise<q.GetFleetReconciliationResponse> {
    return q.GetFleetReconciliationResponse.fromJSON(await this.get('/v1/reconciliation/fleet', { chain_id: r.chainId }));
  }
  async getChainStatus(r: Partial<q.GetChainStatusRequest>): Promise<q.GetChainStatusResponse> {
    return q.GetChainStatusResponse.fromJSON(await this.get(r.chainId ? `/v1/chains/${this.seg(r.chainId)}/status` : '/v1/chain/status', {}));
  }
  async verifyRange(r: Partial<q.VerifyRangeRequest>): Promise<q.VerifyRangeResponse> {
    return q.VerifyRangeResponse.fromJSON(await this.get(r.chainId ? `/v1/chains/${this.seg(r.chainId)}/verify` : '/v1/chain/verify', { from: r.from, to: r.to }));
  }
  async getCheckpoints(r: Partial<q.GetCheckpointsRequest>): Promise<q.GetCheckpointsResponse> {
    const path = r.chainId ? `/v1/chains/${this.seg(r.chainId)}/checkpoints` : '/v1/chain/checkpoints';
    return q.GetCheckpointsResponse.fromJSON(await this.get(path, { page_size: r.pageSize, page_token: r.pageToken }));
  }
  async getInclusionProof(r: Partial<q.GetInclusionProofRequest>): Promise<q.GetInclusionProofResponse> {
    const path = r.chainId ? `/v1/chains/${this.seg(r.chainId)}/proofs/inclusion` : '/v1/chain/proofs/inclusion';
    // sequence 0 is sent (the server answers INVALID_ARGUMENT), not dropped as a default.
    return q.GetInclusionProofResponse.fromJSON(await this.get(path, { sequence: String(r.sequence ?? 0n), checkpoint: r.checkpointSize }));
  }
  async getConsistencyProof(r: Partial<q.GetConsistencyProofRequest>): Promise<q.GetConsistencyProofResponse> {
    const path = r.chainId ? `/v1/chains/${this.seg(r.chainId)}/proofs/consistency` : '/v1/chain/proofs/consistency';
    return q.GetConsistencyProofResponse.fromJSON(await this.get(path, { from: String(r.fromSize ?? 0n), to: r.toSize }));
  }
  async getFleetStatus(r: Partial<q.GetFleetStatusRequest>): Promise<q.GetFleetStatusResponse> {
    return q.GetFleetStatusResponse.fromJSON(await this.get(r.fleet ? `/v1/fleet/${this.seg(r.fleet)}/status` : '/v1/fleet/status', {}));
  }
  async health(): Promise<q.HealthResponse> {
    return q.HealthResponse.fromJSON(await this.get('/healthz', {}));
  }
  async ready(): Promise<q.ReadyResponse> {
    return q.ReadyResponse.fromJSON(await this.get('/readyz', {}, [503]));
  }
  close(): void {}
}

function apiCodeOfStatus(status: number): HwlErrorCode {
  switch (status) {
    case 400:
      return 'INVALID_ARGUMENT';
    case 401:
      return 'UNAUTHENTICATED';
    case 403:
      return 'PERMISSION_DENIED';
    case 404:
      return 'NOT_FOUND';
    case 503:
      return 'UNAVAILABLE';
    default:
      return 'INTERNAL';
  }
}

// ---- gRPC ----

const GRPC_CODE: Partial<Record<number, HwlErrorCode>> = {
  [GrpcStatus.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [GrpcStatus.NOT_FOUND]: 'NOT_FOUND',
  [GrpcStatus.PERMISSION_DENIED]: 'PERMISSION_DENIED',
  [GrpcStatus.UNAUTHENTICATED]: 'UNAUTHENTICATED',
  [GrpcStatus.UNAVAILABLE]: 'UNAVAILABLE',
  [GrpcStatus.DEADLINE_EXCEEDED]: 'UNAVAILABLE',
  [GrpcStatus.FAILED_PRECONDITION]: 'FAILED_PRECONDITION',
  [GrpcStatus.DATA_LOSS]: 'INTEGRITY',
};

type Unary<Req, Res> = (req: Req, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: Res) => void) => unknown;

class GrpcApiClient implements ApiClient {
  readonly transport = 'grpc' as const;
  private readonly client: q.LedgerQueryClient;

  constructor(
    private readonly address: string,
    tls: boolean,
    private readonly key: string | undefined,
    private readonly timeoutMs: number,
  ) {
    this.client = new q.LedgerQueryClient(address, tls ? credentials.createSsl() : credentials.createInsecure());
  }

  private call<Req, Res>(method: Unary<Req, Res>, req: Req): Promise<Res> {
    const md = new Metadata();
    if (this.key) md.set('authorization', `Bearer ${this.key}`);
    return new Promise<Res>((resolve, reject) => {
      method.call(this.client, req, md, { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (!err) return resolve(res);
        const code = GRPC_CODE[err.code] ?? 'INTERNAL';
        const message = err.code === GrpcStatus.UNAVAILABLE && !err.details ? `cannot reach the API at ${this.address}` : err.details || err.message;
        reject(new HwlError(code, message));
      });
    });
  }

  getAuditTrail(r: Partial<q.GetAuditTrailRequest>): Promise<q.GetAuditTrailResponse> {
    return this.call(this.client.getAuditTrail as Unary<q.GetAuditTrailRequest, q.GetAuditTrailResponse>, q.GetAuditTrailRequest.fromPartial(r));
  }
  listTenants(r: Partial<q.ListTenantsRequest>): Promise<q.ListTenantsResponse> {
    return this.call(this.client.listTenants as Unary<q.ListTenantsRequest, q.ListTenantsResponse>, q.ListTenantsRequest.fromPartial(r));
  }
  getTenantSummary(r: Partial<q.GetTenantSummaryRequest>): Promise<q.GetTenantSummaryResponse> {
    return this.call(this.client.getTenantSummary as Unary<q.GetTenantSummaryRequest, q.GetTenantSummaryResponse>, q.GetTenantSummaryRequest.fromPartial(r));
  }
  getCostSummary(r: Partial<q.GetCostSummaryRequest>): Promise<q.GetCostSummaryResponse> {
    return this.call(this.client.getCostSummary as Unary<q.GetCostSummaryRequest, q.GetCostSummaryResponse>, q.GetCostSummaryRequest.fromPartial(r));
  }
  getDispatchHistory(r: Partial<q.GetDispatchHistoryRequest>): Promise<q.GetDispatchHistoryResponse> {
    return this.call(this.client.getDispatchHistory as Unary<q.GetDispatchHistoryRequest, q.GetDispatchHistoryResponse>, q.GetDispatchHistoryRequest.fromPartial(r));
  }
  getReconciliation(r: Partial<q.GetReconciliationRequest>): Promise<q.GetReconciliationResponse> {
    return this.call(this.client.getReconciliation as Unary<q.GetReconciliationRequest, q.GetReconciliationResponse>, q.GetReconciliationRequest.fromPartial(r));
  }
  listFlaggedJobs(r: Partial<q.ListFlaggedJobsRequest>): Promise<q.ListFlaggedJobsResponse> {
    return this.call(this.client.listFlaggedJobs as Unary<q.ListFlaggedJobsRequest, q.ListFlaggedJobsResponse>, q.ListFlaggedJobsRequest.fromPartial(r));
  }
  getFleetReconciliation(r: Partial<q.GetFleetReconciliationRequest>): Promise<q.GetFleetReconciliationResponse> {
    return this.call(
      this.client.getFleetReconciliation as Unary<q.GetFleetReconciliationRequest, q.GetFleetReconciliationResponse>,
      q.GetFleetReconciliationRequest.fromPartial(r),
    );
  }
  getChainStatus(r: Partial<q.GetChainStatusRequest>): Promise<q.GetChainStatusResponse> {
    return this.call(this.client.getChainStatus as Unary<q.GetChainStatusRequest, q.GetChainStatusResponse>, q.GetChainStatusRequest.fromPartial(r));
  }
  verifyRange(r: Partial<q.VerifyRangeRequest>): Promise<q.VerifyRangeResponse> {
    return this.call(this.client.verifyRange as Unary<q.VerifyRangeRequest, q.VerifyRangeResponse>, q.VerifyRangeRequest.fromPartial(r));
  }
  getCheckpoints(r: Partial<q.GetCheckpointsRequest>): Promise<q.GetCheckpointsResponse> {
    return this.call(this.client.getCheckpoints as Unary<q.GetCheckpointsRequest, q.GetCheckpointsResponse>, q.GetCheckpointsRequest.fromPartial(r));
  }
  getInclusionProof(r: Partial<q.GetInclusionProofRequest>): Promise<q.GetInclusionProofResponse> {
    return this.call(this.client.getInclusionProof as Unary<q.GetInclusionProofRequest, q.GetInclusionProofResponse>, q.GetInclusionProofRequest.fromPartial(r));
  }
  getConsistencyProof(r: Partial<q.GetConsistencyProofRequest>): Promise<q.GetConsistencyProofResponse> {
    return this.call(this.client.getConsistencyProof as Unary<q.GetConsistencyProofRequest, q.GetConsistencyProofResponse>, q.GetConsistencyProofRequest.fromPartial(r));
  }
  getFleetStatus(r: Partial<q.GetFleetStatusRequest>): Promise<q.GetFleetStatusResponse> {
    return this.call(this.client.getFleetStatus as Unary<q.GetFleetStatusRequest, q.GetFleetStatusResponse>, q.GetFleetStatusRequest.fromPartial(r));
  }
  health(): Promise<q.HealthResponse> {
    return this.call(this.client.health as Unary<q.HealthRequest, q.HealthResponse>, {});
  }
  ready(): Promise<q.ReadyResponse> {
    return this.call(this.client.ready as Unary<q.ReadyRequest, q.ReadyResponse>, {});
  }
  close(): void {
    this.client.close();
  }
}
