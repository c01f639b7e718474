/**
 * @hwledger/api: the query API (docs/api.md) over gRPC (hwledger.v1.LedgerQuery)
 * and HTTP/JSON, its API keys, and a client for either transport.
 */
export { startApi, DEFAULT_TREE_DIR, type ApiServerOptions, type RunningApi } from './api-server.js';
export { LedgerQuery, MAX_VERIFY_SPAN, type LedgerQueryOptions } from './ledger-query.js';
export { LedgerProofs, type LedgerProofsOptions } from './ledger-proofs.js';
export { startHttpServer, type HttpServerOptions, type RunningHttpServer, type ExtraHandler } from './http-server.js';
export { startGrpcServer, type GrpcServerOptions, type RunningGrpcServer } from './grpc-server.js';
export { KeyStore, generateKey, hashKey, loadKeyFile, parseKeyFile, bearerKey, KEY_PREFIX, type ApiKeyEntry } from './api-keys.js';
export { requireOperator, requireTenant, type Caller, type Role } from './caller.js';
export { createApiClient, type ApiClient } from './api-client.js';
export { ApiMetrics } from './metrics.js';
export { toJson, type Json } from './json.js';
export { toApiError, HTTP_STATUS, GRPC_STATUS, type ApiError, type ApiErrorCode } from './api-error.js';
export { NO_TENANT, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE } from './validate.js';
export { dashboardHandlers, type DashboardOptions } from './dashboard/index.js';
