/**
 * The gRPC transport (grpc-js, service hwledger.v1.LedgerQuery). Keys come in
 * the `authorization: Bearer <key>` metadata entry. Requests that do not
 * decode as protobuf are INVALID_ARGUMENT (grpc-js itself would answer
 * INTERNAL): the service definition's deserializers are wrapped so a bad
 * message reaches the handler as a marker instead of throwing. Answers are
 * serialized in the handler, before the status is counted: a value the
 * message cannot carry (a numeric sum of the read models above 2^64 - 1 in a
 * uint64 field, which HTTP/JSON answers exactly) is FAILED_PRECONDITION
 * naming the field, never an INTERNAL "error serializing response" from
 * grpc-js counted as OK.
 */
import { Server, ServerCredentials, status as GrpcStatus, type ServiceDefinition, type ServerUnaryCall, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HwlError, type Logger } from '@hwledger/core';
import { query as q } from '@hwledger/proto';
import { GRPC_STATUS, toApiError } from './api-error.js';
import { bearerKey, type KeyStore } from './api-keys.js';
import type { Caller } from './caller.js';
import type { LedgerQuery } from './ledger-query.js';
import type { ApiMetrics } from './metrics.js';

/** Largest request accepted (requests are a few ids and numbers). */
const MAX_REQUEST_BYTES = 64 * 1024;

const UNDECODABLE = Symbol('undecodable');
interface Undecodable {
  [UNDECODABLE]: string;
}

function isUndecodable(v: unknown): v is Undecodable {
  return typeof v === 'object' && v !== null && UNDECODABLE in v;
}

type Method = keyof typeof q.LedgerQueryService;

/** LedgerQueryService with deserializers that never throw, and serializers that pass answers serialized by the handler through. */
function tolerantDefinition(): ServiceDefinition {
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(q.LedgerQueryService)) {
    out[name] = {
      ...def,
      requestDeserialize: (buf: Buffer): unknown => {
        try {
          return def.requestDeserialize(buf);
        } catch (e) {
          return { [UNDECODABLE]: e instanceof Error ? e.message : String(e) };
        }
      },
      responseSerialize: (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : (def.responseSerialize as (x: unknown) => Buffer)(v)),
    };
  }
  return out as unknown as ServiceDefinition;
}

/** The wire form of an answer; a value its message cannot carry is FAILED_PRECONDITION (HTTP/JSON carries it exactly). */
function serializeAnswer(method: Method, res: unknown): Buffer {
  try {
    return (q.LedgerQueryService[method].responseSerialize as (x: unknown) => Buffer)(res);
  } catch (e) {
    const field = e instanceof Error ? /field message\.(\w+) of type u?int64 too (?:large|small)/.exec(e.message)?.[1] : undefined;
    if (field === undefined) throw e;
    throw new HwlError('FAILED_PRECONDITION', `the answer's ${field} is above 2^64 - 1, more than gRPC uint64 can carry: ask over HTTP/JSON (exact decimal strings)`, { cause: e });
  }
}

const STATUS_NAME: Record<number, string> = Object.fromEntries(Object.entries(GrpcStatus).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v, k]));

export interface GrpcServerOptions {
  api: LedgerQuery;
  keys: KeyStore;
  metrics: ApiMetrics;
  logger: Logger;
  host?: string;
  /** 0 = any free port. */
  port: number;
}

export interface RunningGrpcServer {
  port: number;
  address: string;
  close(): Promise<void>;
}

export async function startGrpcServer(o: GrpcServerOptions): Promise<RunningGrpcServer> {
  const server = new Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });

  function unary<Req, Res>(method: Method, fn: (caller: Caller | undefined, req: Req) => Promise<Res> | Res, open = false) {
    const path = q.LedgerQueryService[method].path;
    return (call: ServerUnaryCall<Req | Undecodable, Res>, callback: sendUnaryData<Res>): void => {
      const run = async (): Promise<Buffer> => {
        let caller: Caller | undefined;
        if (!open) {
          const header = call.metadata.get('authorization')[0];
          caller = o.keys.authenticate(bearerKey(typeof header === 'string' ? header : undefined));
          if (!caller) throw new HwlError('UNAUTHENTICATED', 'missing or unknown API key: send metadata "authorization: Bearer <key>"');
        }
        if (isUndecodable(call.request)) throw new HwlError('INVALID_ARGUMENT', `request does not decode as ${method}: ${call.request[UNDECODABLE]}`);
        return serializeAnswer(method, await fn(caller, call.request));
      };
      run().then(
        (res) => {
          o.metrics.count(path, 'OK');
          // Already serialized: the definition's responseSerialize passes a Buffer through.
          callback(null, res as unknown as Res);
        },
        (e: unknown) => {
          const err = toApiError(e);
          const code = GRPC_STATUS[err.code];
          o.metrics.count(path, STATUS_NAME[code] ?? String(code));
          if (err.cause !== undefined) o.logger[err.code === 'INTERNAL' ? 'error' : 'warn']({ err: err.cause, method: path }, 'request failed');
          callback({ code, details: err.message, name: err.code, message: err.message });
        },
      );
    };
  }

  const api = o.api;
  const need = (c: Caller | undefined): Caller => c as Caller;
  const impl: UntypedServiceImplementation = {
    getAuditTrail: unary<q.GetAuditTrailRequest, q.GetAuditTrailResponse>('getAuditTrail', (c, r) => api.getAuditTrail(need(c), r)),
    listTenants: unary<q.ListTenantsRequest, q.ListTenantsResponse>('listTenants', (c, r) => api.listTenants(need(c), r)),
    getTenantSummary: unary<q.GetTenantSummaryRequest, q.GetTenantSummaryResponse>('getTenantSummary', (c, r) => api.getTenantSummary(need(c), r)),
    getCostSummary: unary<q.GetCostSummaryRequest, q.GetCostSummaryResponse>('getCostSummary', (c, r) => api.getCostSummary(need(c), r)),
    getDispatchHistory: unary<q.GetDispatchHistoryRequest, q.GetDispatchHistoryResponse>('getDispatchHistory', (c, r) => api.getDispatchHistory(need(c), r)),
    getReconciliation: unary<q.GetReconciliationRequest, q.GetReconciliationResponse>('getReconciliation', (c, r) => api.getReconciliation(need(c), r)),
    listFlaggedJobs: unary<q.ListFlaggedJobsRequest, q.ListFlaggedJobsResponse>('listFlaggedJobs', (c, r) => api.listFlaggedJobs(need(c), r)),
    getFleetReconciliation: unary<q.GetFleetReconciliationRequest, q.GetFleetReconciliationResponse>('getFleetReconciliation', (c, r) =>
      api.getFleetReconciliation(need(c), r),
    ),
    getChainStatus: unary<q.GetChainStatusRequest, q.GetChainStatusResponse>('getChainStatus', (c, r) => api.getChainStatus(need(c), r)),
    verifyRange: unary<q.VerifyRangeRequest, q.VerifyRangeResponse>('verifyRange', (c, r) => api.verifyRange(need(c), r)),
    getCheckpoints: unary<q.GetCheckpointsRequest, q.GetCheckpointsResponse>('getCheckpoints', (c, r) => api.getCheckpoints(need(c), r)),
    getInclusionProof: unary<q.GetInclusionProofRequest, q.GetInclusionProofResponse>('getInclusionProof', (c, r) => api.getInclusionProof(need(c), r)),
    getConsistencyProof: unary<q.GetConsistencyProofRequest, q.GetConsistencyProofResponse>('getConsistencyProof', (c, r) => api.getConsistencyProof(need(c), r)),
    getFleetStatus: unary<q.GetFleetStatusRequest, q.GetFleetStatusResponse>('getFleetStatus', (c, r) => api.getFleetStatus(need(c), r)),
    health: unary<q.HealthRequest, q.HealthResponse>('health', () => api.health(), true),
    ready: unary<q.ReadyRequest, q.ReadyResponse>('ready', () => api.ready(), true),
  };
  server.addService(tolerantDefinition(), impl);

  const host = o.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${o.port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    port,
    address: `${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 2_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
