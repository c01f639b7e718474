/**
 * Builds export files (spec: "Export (JSONL)") for the CLI tests with the
 * library's formatExportLine: one from the spec's vectors, and generated
 * chains of any length, written streaming.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { formatExportLine, fromHex, genesisHash, hashFromHex, recordFromJson, sealEvent, type ChainEvent } from '@hwledger/chain';

export interface VectorRecord {
  chain_id: string;
  sequence: number;
  prev_hash: string;
  canonical_hex: string;
  hash: string;
  [member: string]: unknown;
}

export interface Vectors {
  chain_id: string;
  genesis_hash: string;
  records: VectorRecord[];
}

/** The spec vectors: the chain package's copy of shared/spec/vectors.json (origin noted beside it). */
export const VECTORS_PATH = fileURLToPath(new URL('../../../chain/test/fixtures/vectors.json', import.meta.url));

export function loadVectors(): Vectors {
  return JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as Vectors;
}

/** A vector's JSON form as `hwledger decode` prints it (recordToJson): the vector less hashes and bytes, sequence as a string. */
export function vectorJson(v: VectorRecord): Record<string, unknown> {
  const { prev_hash, canonical_hex, hash, sequence, ...rest } = v;
  void prev_hash;
  void canonical_hex;
  void hash;
  return { ...rest, sequence: String(sequence) };
}

/** The export lines of the vector chain. */
export function vectorExportLines(): string[] {
  return loadVectors().records.map((v) =>
    formatExportLine({ record: recordFromJson(v), canonical: fromHex(v.canonical_hex), hash: hashFromHex(v.hash), prevHash: hashFromHex(v.prev_hash) }),
  );
}

function event(i: number): ChainEvent {
  const envelope = { source: `eu-west-1/node-${i % 5}`, eventId: `ev-${i}`, observedAtMs: 1_763_800_000_000n + BigInt(i) * 10n };
  if (i % 3 === 0) {
    return {
      ...envelope,
      kind: 'metrics_collected',
      tenant: '',
      instanceId: 'GPU-1',
      data: { device_id: 'GPU-1', vram_used_mib: BigInt(i), vram_total_mib: 81_559n, utilization_pct: i % 101, temperature_mc: 60_000 - i, power_mw: 600_000 },
    };
  }
  if (i % 3 === 1) {
    return {
      ...envelope,
      kind: 'job_failed',
      tenant: 'acme',
      instanceId: `job:${i}`,
      data: { job_id: `job-${i}`, error_message: `CUDA OOM — ménage à trois ✓ #${i}` },
    };
  }
  return {
    ...envelope,
    kind: 'inference_request_completed',
    tenant: '47',
    instanceId: `inference:request_completed:req-${i}`,
    data: { tenant_id: '47', request_id: `req-${i}`, total_tokens: i, compute_ms: 2n ** 60n + BigInt(i), reason: 'end_of_sequence' },
  };
}

export interface GeneratedExport {
  /** current_hash of every record, index i = sequence i + 1 (kept only when `keepHashes`). */
  hashes: Uint8Array[];
  head: Uint8Array;
}

/** Writes records 1..count of `chainId` to `path`, streaming. */
export async function writeGeneratedExport(path: string, count: number, chainId = 'eu-west-1', keepHashes = true): Promise<GeneratedExport> {
  const out = createWriteStream(path);
  const hashes: Uint8Array[] = [];
  let prev = genesisHash(chainId);
  for (let i = 1; i <= count; i++) {
    const s = sealEvent(event(i), { chainId, sequence: BigInt(i), sealedAtMs: 1_763_800_000_000n + BigInt(i) * 10n + 3n }, prev);
    if (!out.write(`${formatExportLine(s)}\n`)) await once(out, 'drain');
    if (keepHashes) hashes.push(s.hash);
    prev = s.hash;
  }
  out.end();
  await once(out, 'finish');
  return { hashes, head: prev };
}
