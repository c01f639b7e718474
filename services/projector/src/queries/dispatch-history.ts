/** Dispatch history of a device (seed 000 get_dispatch_history), newest dispatch first, keyset-paginated. */
import type pg from 'pg';
import { chainIdArg, decodeCursor, encodeCursor, keyArg, pageArg, seqCursorPart, type Page, type PageRequest } from './args.js';

export interface DispatchHistoryRequest {
  chainId: string;
  deviceId: string;
  page?: PageRequest;
}

export interface DispatchRecord {
  chainId: string;
  jobId: string;
  modelId: string | null;
  status: 'dispatched' | 'completed' | 'failed';
  tenant: string | null;
  vramRequestedMib: bigint | null;
  predictedCostMicroUsd: bigint | null;
  dispatchSequence: bigint;
  dispatchedAtMs: bigint;
  completedAtMs: bigint | null;
  failedAtMs: bigint | null;
  durationMs: bigint | null;
  tokensGenerated: bigint | null;
  actualVramMib: bigint | null;
  reportedCostMicroUsd: bigint | null;
  ratedCostMicroUsd: bigint | null;
  priceBookVersion: number | null;
  errorMessage: string | null;
}

const big = (v: string | null): bigint | null => (v === null ? null : BigInt(v));

export async function dispatchHistory(pool: pg.Pool, req: DispatchHistoryRequest): Promise<Page<DispatchRecord>> {
  const chainId = chainIdArg(req.chainId);
  const deviceId = keyArg(req.deviceId, 'device_id');
  const { limit, cursor } = pageArg(req.page);
  const before = cursor === undefined ? null : seqCursorPart(decodeCursor(cursor, 1)[0]!);
  const r = await pool.query<Record<string, string | null>>(
    `SELECT job_id, model_id, status, dispatch_tenant, vram_requested_mib, predicted_cost_micro_usd, dispatch_sequence, dispatched_at_ms,
            completed_at_ms, failed_at_ms, duration_ms, tokens_generated, actual_vram_mib, reported_cost_micro_usd,
            rated_cost_micro_usd, price_book_version, error_message
       FROM jobs
      WHERE chain_id = $1 AND device_id = $2 AND dispatch_sequence IS NOT NULL AND ($3::bigint IS NULL OR dispatch_sequence < $3)
      ORDER BY dispatch_sequence DESC LIMIT $4`,
    [chainId, deviceId, before, limit + 1],
  );
  const rows = r.rows.slice(0, limit);
  const items = rows.map((x): DispatchRecord => ({
    chainId,
    jobId: x['job_id']!,
    modelId: x['model_id'] ?? null,
    status: x['status'] as DispatchRecord['status'],
    tenant: x['dispatch_tenant'] ?? null,
    vramRequestedMib: big(x['vram_requested_mib'] ?? null),
    predictedCostMicroUsd: big(x['predicted_cost_micro_usd'] ?? null),
    dispatchSequence: BigInt(x['dispatch_sequence']!),
    dispatchedAtMs: BigInt(x['dispatched_at_ms']!),
    completedAtMs: big(x['completed_at_ms'] ?? null),
    failedAtMs: big(x['failed_at_ms'] ?? null),
    durationMs: big(x['duration_ms'] ?? null),
    tokensGenerated: big(x['tokens_generated'] ?? null),
    actualVramMib: big(x['actual_vram_mib'] ?? null),
    reportedCostMicroUsd: big(x['reported_cost_micro_usd'] ?? null),
    ratedCostMicroUsd: big(x['rated_cost_micro_usd'] ?? null),
    priceBookVersion: x['price_book_version'] === null || x['price_book_version'] === undefined ? null : Number(x['price_book_version']),
    errorMessage: x['error_message'] ?? null,
  }));
  const page: Page<DispatchRecord> = { items };
  if (r.rows.length > limit && rows.length > 0) page.nextCursor = encodeCursor([rows[rows.length - 1]!['dispatch_sequence']!]);
  return page;
}
