/**
 * The addon computes exactly node:crypto's SHA-256 of (prefix || slice) for
 * every prefix, length and offset, writes only its 32 bytes, and
 * refuses bad arguments at the boundary without writing anything. It must be
 * built wherever the tests run (HWL_NATIVE_HASH=0 skips the tests that need
 * it; the packages then use node:crypto, which the second part checks).
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADDON_PATH, loadNativeHash, nativeHash, nativeHashUnavailable } from '@hwledger/native-hash';

const reference = (prefix: number, data: Uint8Array): string => {
  const h = createHash('sha256');
  if (prefix >= 0) h.update(Uint8Array.of(prefix));
  return h.update(data).digest('hex');
};
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe.skipIf(process.env['HWL_NATIVE_HASH'] === '0')('@hwledger/native-hash', () => {
  it('is built and loaded', () => {
    expect(existsSync(ADDON_PATH)).toBe(true);
    expect(nativeHash).toBeDefined();
    expect(nativeHashUnavailable).toBeUndefined();
  });

  it('equals node:crypto for every prefix, length and offset, and writes only its 32 bytes', () => {
    const h = nativeHash!;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.constantFrom(-1, 0, 1, 255), fc.nat(40), fc.nat(40), (data, prefix, at, off) => {
        const src = new Uint8Array(at + data.length + 5).fill(0xaa);
        src.set(data, at);
        const before = hex(src);
        const out = new Uint8Array(off + 32 + 5);
        h.prefixedSha256Into(prefix, src, at, data.length, out, off);
        expect(hex(out.subarray(off, off + 32))).toBe(reference(prefix, data));
        expect(out.subarray(0, off).every((x) => x === 0)).toBe(true);
        expect(out.subarray(off + 32).every((x) => x === 0)).toBe(true);
        expect(hex(src)).toBe(before);
      }),
      { numRuns: 2_000 },
    );
  });

  it('reads and writes through views at a byteOffset, and may write over its own input', () => {
    const h = nativeHash!;
    const backing = new Uint8Array(200);
    for (let i = 0; i < backing.length; i++) backing[i] = i;
    const view = backing.subarray(50, 150);
    const want = reference(1, backing.slice(60, 124));
    h.prefixedSha256Into(1, view, 10, 64, view, 10);
    expect(hex(backing.subarray(60, 92))).toBe(want);
  });

  it('refuses bad arguments with a typed error and writes nothing', () => {
    const h = nativeHash!;
    const src = new Uint8Array(64);
    const out = new Uint8Array(32);
    const bad: [string, () => void, ErrorConstructor][] = [
      ['src past its end', () => h.prefixedSha256Into(0, src, 33, 32, out, 0), RangeError],
      ['out past its end', () => h.prefixedSha256Into(0, src, 0, 32, out, 1), RangeError],
      ['len past the end of src', () => h.prefixedSha256Into(-1, src, 0, 65, out, 0), RangeError],
      ['negative offset', () => h.prefixedSha256Into(0, src, -1, 32, out, 0), RangeError],
      ['fractional offset', () => h.prefixedSha256Into(0, src, 0.5, 32, out, 0), RangeError],
      ['NaN length', () => h.prefixedSha256Into(0, src, 0, NaN, out, 0), RangeError],
      ['prefix 256', () => h.prefixedSha256Into(256, src, 0, 32, out, 0), RangeError],
      ['prefix 0.5', () => h.prefixedSha256Into(0.5, src, 0, 32, out, 0), RangeError],
      ['prefix -2', () => h.prefixedSha256Into(-2, src, 0, 32, out, 0), RangeError],
      ['src not a Uint8Array', () => h.prefixedSha256Into(0, new Uint16Array(32) as unknown as Uint8Array, 0, 32, out, 0), TypeError],
      ['out a plain array', () => h.prefixedSha256Into(0, src, 0, 32, [] as unknown as Uint8Array, 0), TypeError],
      ['missing arguments', () => (h.prefixedSha256Into as unknown as (...a: unknown[]) => void)(0, src, 0, 32, out), TypeError],
    ];
    for (const [what, call, type] of bad) {
      expect(call, what).toThrow(type);
      expect(call, what).toThrow(/ERR_NATIVE_HASH_ARGS|at\/len\/off|prefix|Uint8Arrays|6 arguments/);
      expect(out.every((x) => x === 0), what).toBe(true);
    }
  });
});

describe('@hwledger/native-hash without the addon', () => {
  it('a file that is not a loadable addon, or no file, gives undefined and a reason instead of throwing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hwl-native-hash-'));
    try {
      const junk = join(dir, 'junk.node');
      writeFileSync(junk, 'not an ELF file');
      const bad = loadNativeHash(junk);
      expect(bad.hash).toBeUndefined();
      expect(bad.reason).toMatch(/^does not load: /);
      expect(loadNativeHash(join(dir, 'missing.node'))).toEqual({ hash: undefined, reason: expect.stringMatching(/^not built/) as string });
      // A stale build's transcoder (another contract: no owner argument) is not used; its hash still is.
      const stale = join(dir, 'stale.cjs');
      writeFileSync(stale, 'exports.prefixedSha256Into = () => {}; exports.transcodeIngest = () => 1; exports.sealLink = () => 0;');
      const old = loadNativeHash(stale);
      expect(old.hash).toBeDefined();
      expect(old.transcodeIngest).toBeUndefined();
      writeFileSync(join(dir, 'current.cjs'), 'exports.prefixedSha256Into = () => {}; exports.transcodeIngest = () => 1; exports.transcodeIngestVersion = 2;');
      expect(loadNativeHash(join(dir, 'current.cjs')).transcodeIngest).toBeTypeOf('function');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('HWL_NATIVE_HASH=0 loads nothing, and ledger-ops then hashes the Merkle tree through node:crypto', () => {
    const ledgerOps = fileURLToPath(new URL('../../ledger-ops/dist/index.js', import.meta.url));
    const script = `
      const m = await import(${JSON.stringify(ledgerOps)});
      const n = await import(${JSON.stringify(fileURLToPath(new URL('../dist/index.js', import.meta.url)))});
      process.stdout.write(JSON.stringify({ addon: n.nativeHash === undefined, fallback: m.nativeMerkleHasher === m.nodeCryptoMerkleHasher, none: m.addonMerkleHasher === undefined }));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, HWL_NATIVE_HASH: '0' }, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ addon: true, fallback: true, none: true });
  });
});
