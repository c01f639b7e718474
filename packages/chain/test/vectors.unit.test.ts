/**
 * The spec's vectors (shared/spec/vectors.json), byte for byte: genesis hash,
 * canonical bytes, prev_hash links and hashes of every record, and the JSON
 * form of every decoded record. The copy in fixtures/ must equal the original
 * in ../shared/spec whenever that is checked out beside the repository.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  chainHash,
  decodeRecord,
  encodeRecord,
  eventFromJson,
  eventToJson,
  formatExportLine,
  fromHex,
  genesisAnchor,
  genesisHash,
  hashFromHex,
  parseExportLine,
  recordFromJson,
  recordToJson,
  sealEvent,
  toHex,
  verifyEntriesSync,
} from '@hwledger/chain';
import { loadVectors, SHARED_VECTORS_PATH, sharedVectorsPresent, VECTORS_PATH, vectorRecordJson } from './support/vectors.js';
import { specEncode } from './support/spec-encoder.js';

const vectors = loadVectors();

describe('spec vectors', () => {
  it('the fixture copy is byte-identical to ../shared/spec/vectors.json (when present)', () => {
    if (!sharedVectorsPresent()) {
      // A clone without ../shared: the committed copy is all there is.
      expect(vectors.records.length).toBeGreaterThan(0);
      return;
    }
    expect(readFileSync(VECTORS_PATH, 'utf8')).toBe(readFileSync(SHARED_VECTORS_PATH, 'utf8'));
  });

  it('covers every kind the spec defines', () => {
    expect(new Set(vectors.records.map((r) => r.kind))).toEqual(
      new Set(['device_registered', 'job_dispatched', 'job_completed', 'job_failed', 'metrics_collected', 'inference_request_completed']),
    );
    expect(vectors.records.map((r) => r.sequence)).toEqual(vectors.records.map((_, i) => i + 1));
  });

  it('genesis hash', () => {
    expect(toHex(genesisHash(vectors.chain_id))).toBe(vectors.genesis_hash);
    expect(toHex(genesisAnchor(vectors.chain_id).hash)).toBe(vectors.genesis_hash);
    expect(genesisAnchor(vectors.chain_id).sequence).toBe(0n);
  });

  describe.each(vectors.records.map((v) => [`${v.sequence} ${v.kind}`, v] as const))('record %s', (_name, v) => {
    const record = recordFromJson(v);
    const canonical = fromHex(v.canonical_hex);

    it('encodes to canonical_hex exactly (library and the spec-table encoder)', () => {
      expect(toHex(encodeRecord(record))).toBe(v.canonical_hex);
      expect(toHex(specEncode(record))).toBe(v.canonical_hex);
    });

    it('prev_hash links to the previous record (genesis for sequence 1) and hash = SHA-256(prev || canonical)', () => {
      const expectedPrev = v.sequence === 1 ? vectors.genesis_hash : vectors.records[v.sequence - 2]!.hash;
      expect(v.prev_hash).toBe(expectedPrev);
      expect(toHex(chainHash(hashFromHex(v.prev_hash), canonical))).toBe(v.hash);
    });

    it('sealing the JSON event reproduces bytes and hash', () => {
      const { chain_id, sequence, sealed_at_ms, prev_hash, canonical_hex, hash, ...eventJson } = v;
      void canonical_hex;
      void hash;
      const event = eventFromJson(eventJson);
      const sealed = sealEvent(event, { chainId: chain_id, sequence: BigInt(sequence), sealedAtMs: BigInt(sealed_at_ms) }, hashFromHex(prev_hash));
      expect(toHex(sealed.canonical)).toBe(v.canonical_hex);
      expect(toHex(sealed.hash)).toBe(v.hash);
      expect(eventToJson(event)).toStrictEqual(eventJson);
    });

    it('decodes to exactly the vector fields (JSON form, u64 as decimal strings)', () => {
      const decoded = decodeRecord(canonical);
      expect(decoded).toStrictEqual(record);
      expect(recordToJson(decoded)).toStrictEqual(vectorRecordJson(v));
      // Plain JSON (no bigint, no undefined): survives serialisation unchanged.
      expect(JSON.parse(JSON.stringify(recordToJson(decoded)))).toStrictEqual(vectorRecordJson(v));
    });

    it('round-trips through an export line', () => {
      const line = formatExportLine({ record, canonical, hash: hashFromHex(v.hash), prevHash: hashFromHex(v.prev_hash) });
      const parsed = JSON.parse(line) as Record<string, unknown>;
      expect(parsed).toMatchObject({ chain_id: v.chain_id, sequence: String(v.sequence), canonical: v.canonical_hex, hash: v.hash, prev_hash: v.prev_hash });
      const entry = parseExportLine(line);
      expect(toHex(entry.canonical)).toBe(v.canonical_hex);
      expect(entry.sequence).toBe(BigInt(v.sequence));
    });
  });

  it('the whole vector chain verifies from genesis, ending at the last hash', () => {
    const result = verifyEntriesSync(
      vectors.records.map((v) => ({
        canonical: fromHex(v.canonical_hex),
        hash: hashFromHex(v.hash),
        prevHash: hashFromHex(v.prev_hash),
        sequence: BigInt(v.sequence),
        chainId: v.chain_id,
      })),
      genesisAnchor(vectors.chain_id),
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const last = vectors.records[vectors.records.length - 1]!;
    expect(result.verified).toBe(vectors.records.length);
    expect(result.head.sequence).toBe(BigInt(last.sequence));
    expect(toHex(result.head.hash)).toBe(last.hash);
  });

  it('a u64 past 2^53 survives exactly (record 5 compute_ms = 2^53 + 1)', () => {
    const v = vectors.records.find((r) => r.data['compute_ms'] === '9007199254740993');
    expect(v).toBeDefined();
    const decoded = decodeRecord(fromHex(v!.canonical_hex));
    expect(decoded.kind === 'inference_request_completed' && decoded.data.compute_ms).toBe(2n ** 53n + 1n);
  });
});
