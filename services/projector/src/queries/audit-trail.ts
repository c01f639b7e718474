/**
 * Audit trail for a key (seed 000 audit_trail): every record whose job_id,
 * request_id or device_id is the key, in chain order, with its hashes and
 * canonical bytes. `hashVerified` is recomputed here from the stored
 * prev_hash and canonical bytes (SHA-256(prev || canonical) == hash and the
 * bytes decode to this chain and sequence); `withinVerifiedPrefix` says the
 * projector verified the record's link from genesis. A caller that trusts
 * neither Postgres nor this code re-verifies against the chain stream or an
 * export (`hwledger verify`).
 */
import type pg from 'pg';
import { chainHash, constantTimeEqual, decodeRecord, toHex } from '@hwledger/chain';
import { chainIdArg, decodeCursor, encodeCursor, keyArg, pageArg, seqCursorPart, type Page, type PageRequest } from './args.js';

export interface AuditTrailRequest {
  key: string;
  chainId?: string | undefined;
  page?: PageRequest;
}

export interface AuditEntry {
  chainId: string;
  sequence: bigint;
  kind: string;
  tenant: string;
  instanceId: string;
  source: string;
  eventId: string;
  observedAtMs: bigint;
  sealedAtMs: bigint;
  matchedOn: ('job_id' | 'request_id' | 'device_id')[];
  prevHash: string;
  hash: string;
  canonical: string;
  /** Payload in the spec's JSON form. */
  data: Record<string, string | number>;
  hashVerified: boolean;
  withinVerifiedPrefix: boolean;
}

interface Row {
  chain_id: string;
  sequence: string;
  kind: string;
  tenant: string;
  instance_id: string;
  source: string;
  event_id: string;
  observed_at_ms: string;
  sealed_at_ms: string;
  job_id: string | null;
  request_id: string | null;
  device_id: string | null;
  prev_hash: Buffer;
  hash: Buffer;
  canonical: Buffer;
  data: Record<string, string | number>;
  verified_sequence: string | null;
}

export async function auditTrail(pool: pg.Pool, req: AuditTrailRequest): Promise<Page<AuditEntry>> {
  const key = keyArg(req.key, 'key');
  const chainId = req.chainId === undefined ? null : chainIdArg(req.chainId);
  const { limit, cursor } = pageArg(req.page);
  let after: [string, string] = ['', '0'];
  if (cursor !== undefined) {
    const [c, s] = decodeCursor(cursor, 2);
    after = [c!, seqCursorPart(s!)];
  }
  const sub = (col: string): string =>
    `(SELECT * FROM records WHERE ${col} = $1 AND ($2::text IS NULL OR chain_id = $2) AND (chain_id, sequence) > ($3, $4::bigint)
       ORDER BY ${col}, chain_id, sequence LIMIT $5)`;
  const r = await pool.query<Row>(
    `SELECT m.*, s.verified_sequence FROM (${sub('job_id')} UNION ${sub('request_id')} UNION ${sub('device_id')}) m
       LEFT JOIN chain_status s ON s.chain_id = m.chain_id
      ORDER BY m.chain_id, m.sequence LIMIT $5`,
    [key, chainId, after[0], after[1], limit + 1],
  );
  const rows = r.rows.slice(0, limit);
  const items = rows.map((x): AuditEntry => {
    const prev = new Uint8Array(x.prev_hash);
    const canonical = new Uint8Array(x.canonical);
    const hash = new Uint8Array(x.hash);
    let hashVerified = constantTimeEqual(chainHash(prev, canonical), hash);
    if (hashVerified) {
      try {
        const rec = decodeRecord(canonical);
        hashVerified = rec.chainId === x.chain_id && rec.sequence === BigInt(x.sequence);
      } catch {
        hashVerified = false;
      }
    }
    const matchedOn: AuditEntry['matchedOn'] = [];
    if (x.job_id === key) matchedOn.push('job_id');
    if (x.request_id === key) matchedOn.push('request_id');
    if (x.device_id === key) matchedOn.push('device_id');
    return {
      chainId: x.chain_id,
      sequence: BigInt(x.sequence),
      kind: x.kind,
      tenant: x.tenant,
      instanceId: x.instance_id,
      source: x.source,
      eventId: x.event_id,
      observedAtMs: BigInt(x.observed_at_ms),
      sealedAtMs: BigInt(x.sealed_at_ms),
      matchedOn,
      prevHash: toHex(prev),
      hash: toHex(hash),
      canonical: toHex(canonical),
      data: x.data,
      hashVerified,
      withinVerifiedPrefix: x.verified_sequence !== null && BigInt(x.sequence) <= BigInt(x.verified_sequence),
    };
  });
  const page: Page<AuditEntry> = { items };
  const last = rows[rows.length - 1];
  if (r.rows.length > limit && last) page.nextCursor = encodeCursor([last.chain_id, last.sequence]);
  return page;
}
