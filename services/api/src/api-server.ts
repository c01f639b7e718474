/**
 * `hwledger api`: the query API over gRPC and HTTP on one process. Opens the
 * Postgres pool (and applies pending migrations, which is safe beside a
 * running projector: docs/read-models.md), optionally connects to NATS for
 * the live chain head, readiness, checkpoints and proofs, and starts both
 * transports on the same LedgerQuery so they answer identically.
 */
import pg from 'pg';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NoteVerifier } from '@hwledger/chain';
import { closeNats, connectNats, createLogger, HwlError, streams, type Logger } from '@hwledger/core';
import { migrate } from '@hwledger/projector';
import type { Registry } from 'prom-client';
import { KeyStore, type ApiKeyEntry } from './api-keys.js';
import { dashboardHandlers } from './dashboard/index.js';
import { startGrpcServer, type RunningGrpcServer } from './grpc-server.js';
import { startHttpServer, type ExtraHandler, type RunningHttpServer } from './http-server.js';
import { LedgerProofs } from './ledger-proofs.js';
import { LedgerQuery } from './ledger-query.js';
import { ApiMetrics } from './metrics.js';

export interface ApiServerOptions {
  databaseUrl: string;
  chainId: string;
  keys: ApiKeyEntry[];
  /** Without NATS, chain status omits the live stream head, readiness skips NATS, and checkpoints and proofs answer FAILED_PRECONDITION. */
  natsUrl?: string;
  /** Checkpoint verifier keys: signature validity in GetCheckpoints, and every proof bundle verified before it is returned. */
  checkpointKeys?: NoteVerifier[];
  /** Where the API keeps its Merkle tree stores for proofs (default .hwledger/merkle, as `hwledger prove`). */
  treeDir?: string;
  /** The fleet anchor GetFleetStatus reports when the request names none. */
  fleet?: string;
  host?: string;
  /** undefined = no HTTP server; 0 = any free port. */
  httpPort?: number;
  /** undefined = no gRPC server; 0 = any free port. */
  grpcPort?: number;
  logger?: Logger;
  /** Where hwl_api_requests_total is registered (the process registry of `hwledger api`). */
  registry?: Registry;
  /** Serve the ops dashboard (docs/operations.md "Dashboard") under /dashboard/ on the HTTP server (default true). */
  dashboard?: boolean;
  /** More handlers on the HTTP server, tried after the API routes and the dashboard, before 404. */
  extraHandlers?: ExtraHandler[];
  /** Apply pending migrations at start (default true). */
  migrate?: boolean;
  poolSize?: number;
}

/** The tree store directory of `hwledger prove` (HWL_TREE_DIR overrides it in the CLI). */
export const DEFAULT_TREE_DIR = '.hwledger/merkle';

export interface RunningApi {
  api: LedgerQuery;
  pool: pg.Pool;
  http?: RunningHttpServer;
  grpc?: RunningGrpcServer;
  metrics: ApiMetrics;
  close(): Promise<void>;
}

export async function startApi(o: ApiServerOptions): Promise<RunningApi> {
  const logger = o.logger ?? createLogger('api', { chain: o.chainId });
  const pool = new pg.Pool({ connectionString: o.databaseUrl, max: o.poolSize ?? 10, connectionTimeoutMillis: 5_000, statement_timeout: 30_000 });
  // An idle client losing its connection (Postgres restart) must not crash the process.
  pool.on('error', (e) => logger.warn({ err: e }, 'idle Postgres connection failed'));
  let nc: NatsConnection | undefined;
  let http: RunningHttpServer | undefined;
  let grpc: RunningGrpcServer | undefined;
  const cleanup = async (): Promise<void> => {
    await Promise.allSettled([http?.close(), grpc?.close()]);
    if (nc) await closeNats(nc);
    await pool.end().catch(() => undefined);
  };
  try {
    try {
      await pool.query('SELECT 1');
    } catch (e) {
      throw new HwlError('PG_UNREACHABLE', `cannot reach Postgres (set --db or DATABASE_URL): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (o.migrate !== false) await migrate(pool);
    if (o.natsUrl !== undefined) nc = await connectNats(o.natsUrl, `hwledger-api-${o.chainId}`);
    const conn = nc;
    const api = new LedgerQuery({
      pool,
      chainId: o.chainId,
      logger,
      ...(conn
        ? {
            proofs: new LedgerProofs({
              nc: conn,
              chainId: o.chainId,
              treeDir: o.treeDir ?? DEFAULT_TREE_DIR,
              trusted: o.checkpointKeys ?? [],
              logger,
              ...(o.fleet !== undefined ? { fleet: o.fleet } : {}),
            }),
            streamHead: async (chainId: string) => {
              const jsm = await jetstreamManager(conn, { timeout: 2_000 });
              const info = await jsm.streams.info(streams.chain(chainId));
              return BigInt(info.state.last_seq);
            },
            readinessChecks: [
              async () => {
                if (conn.isClosed()) throw new Error('nats: connection closed');
                let timer: NodeJS.Timeout | undefined;
                const timeout = new Promise<never>((_, reject) => {
                  timer = setTimeout(() => reject(new Error('nats: no answer within 2 s')), 2_000);
                });
                try {
                  await Promise.race([conn.flush(), timeout]);
                } finally {
                  clearTimeout(timer);
                }
                return 'nats: ok';
              },
            ],
          }
        : {}),
    });
    const keys = new KeyStore(o.keys);
    const metrics = new ApiMetrics(o.registry);
    if (o.httpPort !== undefined) {
      const extraHandlers = [...(o.dashboard === false ? [] : dashboardHandlers({ pool, keys, logger })), ...(o.extraHandlers ?? [])];
      http = await startHttpServer({ api, keys, metrics, logger, port: o.httpPort, extraHandlers, ...(o.host ? { host: o.host } : {}) });
    }
    if (o.grpcPort !== undefined) grpc = await startGrpcServer({ api, keys, metrics, logger, port: o.grpcPort, ...(o.host ? { host: o.host } : {}) });
    logger.info(
      { http: http?.url, grpc: grpc?.address, keys: keys.size, nats: o.natsUrl !== undefined, checkpointKeys: o.checkpointKeys?.length ?? 0, fleet: o.fleet },
      'api started',
    );
    return {
      api,
      pool,
      metrics,
      ...(http ? { http } : {}),
      ...(grpc ? { grpc } : {}),
      close: cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
