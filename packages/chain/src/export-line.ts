/**
 * Export format (spec: "Export (JSONL)"): one record a line with `chain_id`,
 * `sequence` (decimal string), `canonical` and `hash` (lowercase hex). Other
 * members are for people; verifiers recompute everything from `canonical`.
 */
import { fromHex, hashFromHex, toHex } from './bytes.js';
import { ChainError } from './errors.js';
import { parseU64, recordToJson, type RecordJson } from './json.js';
import type { ChainRecord } from './record.js';
import type { VerifyInput } from './verifier.js';

export interface ExportEntry extends VerifyInput {
  chainId: string;
  sequence: bigint;
  canonical: Uint8Array;
  hash: Uint8Array;
  prevHash?: Uint8Array | undefined;
}

export interface ExportLineJson {
  chain_id: string;
  sequence: string;
  canonical: string;
  hash: string;
  prev_hash?: string;
  record?: RecordJson;
}

/** Formats one export line (no trailing newline). `record` adds the decoded form for people. */
export function formatExportLine(entry: {
  record: ChainRecord;
  canonical: Uint8Array;
  hash: Uint8Array;
  prevHash?: Uint8Array;
}): string {
  const line: ExportLineJson = {
    chain_id: entry.record.chainId,
    sequence: entry.record.sequence.toString(),
    canonical: toHex(entry.canonical),
    hash: toHex(entry.hash),
  };
  if (entry.prevHash) line.prev_hash = toHex(entry.prevHash);
  line.record = recordToJson(entry.record);
  return JSON.stringify(line);
}

/**
 * Parses one export line; attacker-controlled, so every member read is
 * checked. `prev_hash` and `record` are for people (spec: "Export (JSONL)":
 * verifiers ignore them and recompute everything from `canonical`), so they
 * are not read at all: a line whose `prev_hash` was edited, or is not hex,
 * still verifies when its `canonical` and `hash` do.
 */
export function parseExportLine(line: string, lineNo?: number): ExportEntry {
  const where = lineNo === undefined ? 'export line' : `line ${lineNo}`;
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    throw new ChainError('INVALID_JSON', `${where}: not valid JSON`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new ChainError('INVALID_JSON', `${where}: expected a JSON object`);
  }
  const o = obj as Record<string, unknown>;
  if (typeof o['chain_id'] !== 'string') throw new ChainError('INVALID_FIELD', `${where}: chain_id must be a string`);
  if (typeof o['canonical'] !== 'string') throw new ChainError('INVALID_FIELD', `${where}: canonical must be a hex string`);
  if (typeof o['hash'] !== 'string') throw new ChainError('INVALID_FIELD', `${where}: hash must be a hex string`);
  const entry: ExportEntry = {
    chainId: o['chain_id'],
    sequence: parseU64(o['sequence'], `${where}: sequence`),
    canonical: fromHex(o['canonical'], `${where}: canonical`),
    hash: hashFromHex(o['hash'], `${where}: hash`),
  };
  return entry;
}
