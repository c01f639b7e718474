/**
 * API keys, page tokens and request validation: keys are stored hashed and
 * matched whatever their position, malformed key files are refused with the
 * entry named, page tokens are bound to their query and any malformed one is
 * INVALID_ARGUMENT, and no generated input makes a parser throw anything but
 * HwlError('INVALID_ARGUMENT').
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HwlError } from '@hwledger/core';
import { bearerKey, generateKey, hashKey, KeyStore, parseKeyFile } from '@hwledger/api';
import { decodePageToken, encodePageToken } from '../src/page-token.js';
import { parseChainId, parseId, parsePageSize, parseRange, parseTenant, parseU32Param, parseU64Param } from '../src/validate.js';
import { toApiError } from '../src/api-error.js';

function codeOf(f: () => unknown): string {
  try {
    f();
    return 'OK';
  } catch (e) {
    return e instanceof HwlError ? e.code : `not an HwlError: ${String(e)}`;
  }
}

describe('API keys', () => {
  it('keeps only the SHA-256 of a generated key and authenticates the key, not its hash', () => {
    const op = generateKey({ role: 'operator', id: 'ops' });
    const t = generateKey({ role: 'tenant', tenant: '47' });
    expect(op.key).toMatch(/^hwl_[A-Za-z0-9_-]{43}$/);
    expect(op.entry).toEqual({ id: 'ops', role: 'operator', sha256: hashKey(op.key) });
    expect(JSON.stringify(t.entry)).not.toContain(t.key);
    const store = new KeyStore(parseKeyFile(JSON.stringify([op.entry, t.entry])));
    expect(store.authenticate(op.key)).toEqual({ keyId: 'ops', role: 'operator' });
    expect(store.authenticate(t.key)).toEqual({ keyId: t.entry.id, role: 'tenant', tenant: '47' });
    expect(store.authenticate(op.entry.sha256)).toBeUndefined();
    expect(store.authenticate(op.key + 'x')).toBeUndefined();
    expect(store.authenticate('')).toBeUndefined();
    expect(store.authenticate(undefined)).toBeUndefined();
    expect(store.authenticate('k'.repeat(100_000))).toBeUndefined();
  });

  it('refuses malformed key files, naming the entry', () => {
    const h = hashKey('x');
    const bad: [unknown, RegExp][] = [
      [{}, /JSON array/],
      [[{ id: 'a', role: 'admin', sha256: h }], /role/],
      [[{ id: 'a', role: 'tenant', sha256: h }], /tenant/],
      [[{ id: 'a', role: 'tenant', tenant: 'a b', sha256: h }], /tenant/],
      [[{ id: 'a', role: 'operator', tenant: '47', sha256: h }], /operator key has no/],
      [[{ id: 'a', role: 'operator', sha256: 'hwl_plaintext_key' }], /sha256/],
      [[{ id: 'a', role: 'operator', sha256: h.toUpperCase() }], /sha256/],
      [[{ id: 'a', role: 'operator', sha256: h, key: 'plain' }], /unknown member/],
      [[{ id: 'a', role: 'operator', sha256: h }, { id: 'a', role: 'operator', sha256: hashKey('y') }], /duplicate id/],
      [[{ id: 'a', role: 'operator', sha256: h }, { id: 'b', role: 'operator', sha256: h }], /share a key hash/],
    ];
    for (const [json, why] of bad) {
      let err: unknown;
      try {
        parseKeyFile(JSON.stringify(json));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HwlError);
      expect((err as HwlError).code).toBe('CONFIG');
      expect((err as HwlError).message).toMatch(why);
    }
    expect(codeOf(() => parseKeyFile('not json'))).toBe('CONFIG');
  });

  it('reads the key from an Authorization: Bearer header only', () => {
    expect(bearerKey('Bearer hwl_abc')).toBe('hwl_abc');
    expect(bearerKey('bearer  hwl_abc ')).toBe('hwl_abc');
    expect(bearerKey('Basic hwl_abc')).toBeUndefined();
    expect(bearerKey('Bearer')).toBeUndefined();
    expect(bearerKey('Bearer a b')).toBeUndefined();
    expect(bearerKey(undefined)).toBeUndefined();
  });
});

describe('page tokens', () => {
  it('round-trip within their query and are refused by another', () => {
    const t = encodePageToken('audit\u0000c\u0000job-a', ['42']);
    expect(decodePageToken(t, 'audit\u0000c\u0000job-a', 1)).toEqual(['42']);
    expect(decodePageToken('', 'audit\u0000c\u0000job-a', 1)).toBeUndefined();
    expect(codeOf(() => decodePageToken(t, 'audit\u0000c\u0000job-b', 1))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => decodePageToken(t, 'audit\u0000c\u0000job-a', 2))).toBe('INVALID_ARGUMENT');
  });

  it('turn any malformed token into INVALID_ARGUMENT', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 3000 }), fc.json().map((j) => Buffer.from(j).toString('base64url'))), (s) => {
        const c = codeOf(() => decodePageToken(s, 'scope', 1));
        expect(['OK', 'INVALID_ARGUMENT']).toContain(c);
        if (s !== '') expect(c).toBe('INVALID_ARGUMENT');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('request validation', () => {
  it('accepts what the chain holds and refuses the rest with INVALID_ARGUMENT only', () => {
    expect(parseId('job-123', 'key')).toBe('job-123');
    expect(parseId('é'.repeat(128), 'key')).toBe('é'.repeat(128));
    expect(codeOf(() => parseId('é'.repeat(129), 'key'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => parseId('\ud800', 'key'))).toBe('INVALID_ARGUMENT');
    // Tab, LF and CR may be in a sealed id (validateEvent): such ids can be looked up; other controls cannot be sealed.
    for (const id of ['j\t1', 'a\nb', 'c\r\nd']) expect(parseId(id, 'key')).toBe(id);
    for (const id of ['a\u0000b', 'a\u0001', '\u001fx', 'x\u007f']) expect(codeOf(() => parseId(id, 'key'))).toBe('INVALID_ARGUMENT');
    expect(parseTenant('_')).toBe('');
    expect(parseChainId('', 'default')).toBe('default');
    expect(parsePageSize(0)).toBe(100);
    expect(parsePageSize(1000)).toBe(1000);
    expect(codeOf(() => parsePageSize(1001))).toBe('INVALID_ARGUMENT');
    expect(parseRange(5n, 0n)).toEqual({ fromMs: 5n, toMs: undefined });
    expect(codeOf(() => parseRange(5n, 5n))).toBe('INVALID_ARGUMENT');
    expect(parseU64Param('9223372036854775807', 'x')).toBe(9223372036854775807n);
    expect(codeOf(() => parseU64Param('9223372036854775808', 'x'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => parseU64Param('007', 'x'))).toBe('INVALID_ARGUMENT');
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (s, a, b) => {
        for (const f of [
          () => parseId(s, 'key'),
          () => parseTenant(s),
          () => parseChainId(s, 'd'),
          () => parseU64Param(s, 'x'),
          () => parseU32Param(s, 'x'),
          () => parseRange(a, b),
        ]) {
          expect(['OK', 'INVALID_ARGUMENT']).toContain(codeOf(f));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('maps database data exceptions to INVALID_ARGUMENT and hides internal errors', () => {
    const pgErr = Object.assign(new Error('invalid input syntax for type bigint'), { code: '22P02' });
    expect(toApiError(pgErr).code).toBe('INVALID_ARGUMENT');
    const down = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(toApiError(down).code).toBe('UNAVAILABLE');
    // statement_timeout ran out (query_canceled): the database is busy, retry; not a 500.
    const slow = Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
    expect(toApiError(slow).code).toBe('UNAVAILABLE');
    const bug = toApiError(new TypeError('cannot read properties of undefined (secret detail)'));
    expect(bug).toMatchObject({ code: 'INTERNAL', message: 'internal error' });
  });
});
