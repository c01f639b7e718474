/**
 * The addon's ingest transcoder under AddressSanitizer and
 * UndefinedBehaviorSanitizer: ingest-transcode-asan.c (built here with gcc)
 * transcodes 100,000 random mutations of real ingest messages with the real
 * schema table into outputs of exact random sizes, each its own heap block.
 * Any out-of-bounds read or write, or undefined behaviour, aborts it.
 * Skipped, saying why, where gcc with the sanitizers and libcrypto is not
 * installed (a probe program is built first); a harness that does not build
 * there fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KIND_NAMES, type ChainEvent } from '@hwledger/chain';
import { encodeIngestBatch } from '@hwledger/proto';
import { NATIVE_TABLE } from '../src/fast-ingest.js';
import { makeEvent } from './helpers.js';

const SOURCE = fileURLToPath(new URL('../../../packages/native-hash/src/ingest-transcode.c', import.meta.url));
const HARNESS = fileURLToPath(new URL('./ingest-transcode-asan.c', import.meta.url));
const NODE_INCLUDE = join(dirname(process.execPath), '..', 'include', 'node');
const FLAGS = ['-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer', `-I${NODE_INCLUDE}`];
const dir = mkdtempSync(join(tmpdir(), 'hwl-asan-'));

/** Why the toolchain is missing, or undefined when a sanitized program using libcrypto builds and runs. */
function missingToolchain(): string | undefined {
  const probe = join(dir, 'probe.c');
  writeFileSync(probe, '#include <openssl/sha.h>\nint main(void) { SHA256_CTX c; unsigned char d[32]; SHA256_Init(&c); SHA256_Final(d, &c); return d[0] == 0xe3 ? 0 : 1; }\n');
  const built = spawnSync('gcc', [...FLAGS, '-Wno-deprecated-declarations', probe, '-lcrypto', '-o', join(dir, 'probe')], { encoding: 'utf8' });
  if (built.error || built.status !== 0) return `gcc with -fsanitize=address,undefined and libcrypto: ${(built.error?.message ?? built.stderr).split('\n')[0]}`;
  const ran = spawnSync(join(dir, 'probe'), { encoding: 'utf8' });
  return ran.status === 0 ? undefined : `the sanitized probe does not run: ${ran.stderr.split('\n')[0]}`;
}
const missing = missingToolchain();

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ingest transcoder under sanitizers', () => {
  it.skipIf(missing !== undefined)(`reads and writes nothing out of bounds on 100,000 mutated messages${missing ? ` (skipped: ${missing})` : ''}`, () => {
    // A corpus of real messages: every kind, one to five events each.
    mkdirSync(join(dir, 'corpus'));
    const events: ChainEvent[] = Array.from({ length: 300 }, (_, i) => makeEvent(i, `src/node-${i % 5}`));
    expect(new Set(events.map((e) => e.kind)).size).toBe(KIND_NAMES.length);
    const rnd = fc.sample(fc.integer({ min: 1, max: 5 }), { numRuns: 200, seed: 7 });
    let at = 0;
    rnd.forEach((n, i) => {
      writeFileSync(join(dir, 'corpus', `${i}.bin`), encodeIngestBatch(events.slice(at % 290, (at % 290) + n)));
      at += n;
    });
    writeFileSync(join(dir, 'table.bin'), NATIVE_TABLE);
    const bin = join(dir, 'harness');
    execFileSync('gcc', [...FLAGS, '-Wall', '-Wextra', '-Wno-deprecated-declarations', `-DHWL_TRANSCODE_C="${SOURCE}"`, HARNESS, '-lcrypto', '-o', bin], { stdio: ['ignore', 'pipe', 'pipe'] });
    const r = spawnSync(bin, [dir, '100000'], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1' }, timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const m = /not plain (\d+), no room (\d+), transcoded (\d+)/.exec(r.stdout);
    expect(m).not.toBeNull();
    // Every answer was exercised: refusals, short outputs and accepted messages.
    for (const count of m!.slice(1)) expect(Number(count)).toBeGreaterThan(1_000);
  }, 180_000);
});
