/**
 * The decoder's input is attacker-controlled (stream bodies, export files,
 * stdin). Every malformed input is refused with a typed, stable `code`:
 * TRUNCATED, TRAILING_BYTES, INVALID_UTF8, UNSUPPORTED_VERSION, UNKNOWN_KIND,
 * TAG_MISMATCH. An unknown completion `reason` is NOT malformed: it decodes,
 * and a chain holding it verifies (spec: "Event variants").
 */
import { describe, expect, it } from 'vitest';
import {
  ChainError,
  COMPLETION_REASONS,
  decodeRecord,
  encodeRecord,
  fromHex,
  genesisAnchor,
  KIND_NAMES,
  KIND_TAGS,
  recordFromJson,
  recordToJson,
  sealEvent,
  validateEvent,
  verifyEntriesSync,
  type ChainErrorCode,
  type ChainRecord,
} from '@hwledger/chain';
import { loadVectors } from './support/vectors.js';
import { specEncode, specFields } from './support/spec-encoder.js';
import { buildChain, exportInput, testEvent } from './support/chain-builder.js';

const vectors = loadVectors();
const records = vectors.records.map((v) => ({ record: recordFromJson(v), canonical: fromHex(v.canonical_hex) }));
/** One record of every kind (the vectors plus the test builder cover all six). */
const oneOfEachKind: ChainRecord[] = KIND_NAMES.map((k) => {
  const found = buildChain(12).find((r) => r.record.kind === k);
  if (!found) throw new Error(`no ${k} record`);
  return found.record;
});

function codeOf(fn: () => unknown): ChainErrorCode | 'no error' {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ChainError);
    return (e as ChainError).code;
  }
  return 'no error';
}

const DEFINED_TAGS = new Set<number>(Object.values(KIND_TAGS));

describe('decodeRecord rejects malformed canonical bytes', () => {
  it('TRUNCATED at every byte position of every vector', () => {
    let probes = 0;
    for (const { canonical } of records) {
      for (let n = 0; n < canonical.length; n++) {
        expect(
          codeOf(() => decodeRecord(canonical.subarray(0, n))),
          `prefix of ${n} of ${canonical.length} bytes`,
        ).toBe('TRUNCATED');
        probes++;
      }
    }
    expect(probes).toBeGreaterThan(1000);
  });

  it('TRUNCATED when a str length claims more bytes than remain (no allocation of the claimed size)', () => {
    const r = records[0]!.record;
    const bytes = specEncode(r);
    // chain_id length at offset 1: claim 4 GiB.
    bytes.set([0xff, 0xff, 0xff, 0xff], 1);
    expect(codeOf(() => decodeRecord(bytes))).toBe('TRUNCATED');
  });

  it('TRAILING_BYTES after the last field', () => {
    for (const { canonical } of records) {
      for (const extra of [[0x00], [0x01, 0x02], Array.from({ length: 64 }, () => 0xff)]) {
        const bytes = Uint8Array.from([...canonical, ...extra]);
        expect(codeOf(() => decodeRecord(bytes))).toBe('TRAILING_BYTES');
      }
    }
  });

  const INVALID_UTF8: [string, number[]][] = [
    ['0xff', [0x61, 0xff, 0x62]],
    ['lone continuation byte', [0x80]],
    ['overlong NUL', [0xc0, 0x80]],
    ['overlong slash', [0xe0, 0x80, 0xaf]],
    ['UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['beyond U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['cut multi-byte sequence', [0x61, 0xe2, 0x82]],
  ];

  for (const r of oneOfEachKind) {
    const strFields = specFields(r).filter((f) => f.type === 'str');
    it(`INVALID_UTF8 in each str field of ${r.kind} (${strFields.map((f) => f.name).join(', ')})`, () => {
      expect(strFields.length).toBeGreaterThanOrEqual(6);
      for (const field of strFields) {
        for (const [what, raw] of INVALID_UTF8) {
          const bytes = specEncode(r, { [field.name]: Uint8Array.from(raw) });
          expect(
            codeOf(() => decodeRecord(bytes)),
            `${field.name}: ${what}`,
          ).toBe('INVALID_UTF8');
        }
        // The same field with valid multi-byte UTF-8 decodes (the probe is sound).
        const ok = specEncode(r, { [field.name]: 'é✓🚀' });
        expect(codeOf(() => decodeRecord(ok))).toBe('no error');
      }
    });
  }

  it('UNSUPPORTED_VERSION for every format_version but 0x01', () => {
    const r = records[0]!.record;
    for (let v = 0; v <= 0xff; v++) {
      if (v === 1) continue;
      expect(
        codeOf(() => decodeRecord(specEncode(r, { format_version: v }))),
        `version ${v}`,
      ).toBe('UNSUPPORTED_VERSION');
    }
    // A newer version is refused before anything else is read: even one byte.
    expect(codeOf(() => decodeRecord(Uint8Array.of(0x02)))).toBe('UNSUPPORTED_VERSION');
  });

  it('UNKNOWN_KIND for every tag version 1 does not define (even with a matching variant tag)', () => {
    const r = records[0]!.record;
    let probes = 0;
    for (let tag = 0; tag <= 0xff; tag++) {
      if (DEFINED_TAGS.has(tag)) continue;
      expect(
        codeOf(() => decodeRecord(specEncode(r, { kind: tag, 'event_data tag': tag }))),
        `tag ${tag}`,
      ).toBe('UNKNOWN_KIND');
      probes++;
    }
    expect(probes).toBe(256 - KIND_NAMES.length);
  });

  it('TAG_MISMATCH when the event_data tag differs from kind, for every kind and every other tag', () => {
    for (const r of oneOfEachKind) {
      for (let tag = 0; tag <= 0xff; tag++) {
        if (tag === KIND_TAGS[r.kind]) continue;
        expect(
          codeOf(() => decodeRecord(specEncode(r, { 'event_data tag': tag }))),
          `${r.kind} with variant tag ${tag}`,
        ).toBe('TAG_MISMATCH');
      }
    }
  });

  it('errors carry the byte offset where decoding stopped', () => {
    const r = records[0]!.record;
    try {
      decodeRecord(specEncode(r, { 'data.hostname': Uint8Array.of(0xff) }));
      expect.unreachable();
    } catch (e) {
      expect((e as ChainError).at).toMatch(/^\d+$/);
    }
  });

  it('refuses a non-Uint8Array argument with INVALID_FIELD', () => {
    expect(codeOf(() => decodeRecord('01' as unknown as Uint8Array))).toBe('INVALID_FIELD');
  });
});

describe('encodeRecord refuses what has no canonical form', () => {
  const base = records[4]!.record; // inference_request_completed

  it('INVALID_UTF8 for a lone surrogate in any string', () => {
    expect(codeOf(() => encodeRecord({ ...base, source: 'a\ud800b' }))).toBe('INVALID_UTF8');
    expect(codeOf(() => encodeRecord({ ...base, data: { ...(base.data as object), reason: '\udc00' } } as ChainRecord))).toBe('INVALID_UTF8');
  });

  it('INVALID_FIELD for out-of-range integers', () => {
    expect(codeOf(() => encodeRecord({ ...base, sequence: 2n ** 64n }))).toBe('INVALID_FIELD');
    expect(codeOf(() => encodeRecord({ ...base, sequence: -1n }))).toBe('INVALID_FIELD');
    expect(codeOf(() => encodeRecord({ ...base, sequence: 5 as unknown as bigint }))).toBe('INVALID_FIELD');
    expect(codeOf(() => encodeRecord({ ...base, data: { ...(base.data as object), total_tokens: 2 ** 32 } } as ChainRecord))).toBe('INVALID_FIELD');
    expect(codeOf(() => encodeRecord({ ...base, data: { ...(base.data as object), total_tokens: 1.5 } } as ChainRecord))).toBe('INVALID_FIELD');
  });

  it('UNKNOWN_KIND for a kind name version 1 does not define', () => {
    expect(codeOf(() => encodeRecord({ ...base, kind: 'lease_granted' } as unknown as ChainRecord))).toBe('UNKNOWN_KIND');
  });
});

describe('an unknown completion reason', () => {
  const reasons = ['thermal_throttled', '', 'ÜNKNOWN ✓', 'end_of_sequence '];

  it('is refused by admission policy but decodes as the string it is', () => {
    for (const reason of reasons) {
      expect((COMPLETION_REASONS as readonly string[]).includes(reason)).toBe(false);
      const r = { ...records[4]!.record, data: { ...(records[4]!.record.data as object), reason } } as ChainRecord;
      expect(codeOf(() => validateEvent(r))).toBe('INVALID_FIELD');
      const decoded = decodeRecord(encodeRecord(r));
      expect(decoded).toStrictEqual(r);
      expect(recordToJson(decoded).data['reason']).toBe(reason);
    }
  });

  it('verifies inside a chain, which then extends normally', () => {
    const chain = buildChain(3, 'reasons');
    let prev = chain[2]!.hash;
    const extra = reasons.map((reason, k) => {
      const e = testEvent(5);
      if (e.kind !== 'inference_request_completed') throw new Error('test event 5 is an inference completion');
      const s = sealEvent({ ...e, data: { ...e.data, reason } }, { chainId: 'reasons', sequence: BigInt(4 + k), sealedAtMs: 1n }, prev);
      prev = s.hash;
      return s;
    });
    const after = buildChain(2, 'reasons', 4 + reasons.length, prev);
    const result = verifyEntriesSync([...chain, ...extra, ...after].map(exportInput), genesisAnchor('reasons'));
    expect(result).toMatchObject({ ok: true, verified: 3 + reasons.length + 2 });
  });
});
