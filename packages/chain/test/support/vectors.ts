/**
 * The spec's test vectors (shared/spec/vectors.json), read from the copy in
 * fixtures/ (origin in fixtures/README.md). `SHARED_VECTORS_PATH` is the
 * original beside the spec, present when ../shared is checked out next to
 * the repository.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface VectorRecord {
  chain_id: string;
  sequence: number;
  sealed_at_ms: string;
  observed_at_ms: string;
  kind: string;
  tenant: string;
  instance_id: string;
  source: string;
  event_id: string;
  data: Record<string, string | number>;
  prev_hash: string;
  canonical_hex: string;
  hash: string;
}

export interface Vectors {
  chain_id: string;
  genesis_hash: string;
  records: VectorRecord[];
  note: string;
}

export const VECTORS_PATH = fileURLToPath(new URL('../fixtures/vectors.json', import.meta.url));
/** `../shared/spec/vectors.json` relative to the repository root. */
export const SHARED_VECTORS_PATH = fileURLToPath(new URL('../../../../../shared/spec/vectors.json', import.meta.url));

export function loadVectors(path = VECTORS_PATH): Vectors {
  return JSON.parse(readFileSync(path, 'utf8')) as Vectors;
}

export function sharedVectorsPresent(): boolean {
  return existsSync(SHARED_VECTORS_PATH);
}

/** The record's JSON form as the vector writes it, less the hashes and bytes (what recordToJson returns). */
export function vectorRecordJson(v: VectorRecord): Record<string, unknown> {
  const { prev_hash, canonical_hex, hash, sequence, ...rest } = v;
  void prev_hash;
  void canonical_hex;
  void hash;
  return { ...rest, sequence: String(sequence) };
}
