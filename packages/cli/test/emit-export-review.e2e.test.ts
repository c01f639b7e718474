/**
 * `hwledger emit` and `hwledger export` edge cases, against a real
 * nats-server and the built CLI:
 * - emit: a line that is not valid UTF-8 is refused naming the line, and
 *   nothing is published (before, stdin was decoded with replacement, so the
 *   bytes became U+FFFD and an event the producer never wrote was stored);
 * - export: the file is fsynced before it is renamed into place (before, a
 *   crash just after "exported N records" could leave an empty or cut file
 *   under the final name).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { eventToJson, type ChainEvent } from '@hwledger/chain';
import { ensureChainTopology, streams } from '@hwledger/core';
import { runCli, spawnCli, useNatsServer, waitFor } from '@hwledger/testkit';

const CHAIN = 'emitexportreview';

function event(i: number, requestId = `req-${i}`): ChainEvent {
  return {
    kind: 'inference_request_completed',
    source: `${CHAIN}/node-1`,
    eventId: `r-${i}`,
    observedAtMs: 1_763_800_000_000n + BigInt(i),
    tenant: 'acme',
    instanceId: `inference:request_completed:${requestId}`,
    data: { tenant_id: 'acme', request_id: requestId, total_tokens: 10, compute_ms: 18_446_744_073_709_551_615n, reason: 'end_of_sequence' },
  };
}

const line = (e: ChainEvent): string => JSON.stringify(eventToJson(e));

describe('hwledger emit / export: review edge cases', () => {
  const broker = useNatsServer();
  const nats = (): string[] => ['--nats', broker.url, '--chain', CHAIN];
  const ingestMessages = async (): Promise<number> => (await (await jetstreamManager(broker.nc)).streams.info(streams.ingest(CHAIN))).state.messages;
  const dir = mkdtempSync(join(tmpdir(), 'hwl-review-'));

  beforeAll(async () => {
    await ensureChainTopology(broker.nc, CHAIN);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('emit refuses a line that is not valid UTF-8, naming it, and publishes nothing', async () => {
    // Line 2's request_id holds a lone 0xff byte (the JSON around it is valid).
    const good = Buffer.from(line(event(1)) + '\n', 'utf8');
    const bad = Buffer.from(line(event(2, 'req-XX')) + '\n', 'utf8');
    const at = bad.indexOf('req-XX');
    bad[at + 4] = 0xff;
    bad[at + 5] = 0x31;
    const r = await runCli(['emit', ...nats()], { input: Buffer.concat([good, bad, good]) });
    expect(r.stderr).toMatch(/line 2: INVALID_UTF8/);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(await ingestMessages()).toBe(0);
  });

  it('emit still takes a BOM, CRLF and a missing last newline', async () => {
    const before = await ingestMessages();
    const input = '\ufeff' + line(event(3)) + '\r\n' + line(event(4));
    const r = await runCli(['emit', ...nats()], { input: Buffer.from(input, 'utf8') });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('accepted 2');
    expect((await ingestMessages()) - before).toBe(2);
  });

  it('export fsyncs the file before renaming it into place', async () => {
    // Seal what was emitted.
    const emitted = await ingestMessages();
    expect(emitted).toBeGreaterThan(0);
    const seq = spawnCli(['sequencer', ...nats()]);
    try {
      const jsm = await jetstreamManager(broker.nc);
      await waitFor(async () => (await jsm.streams.info(streams.chain(CHAIN)).catch(() => undefined))?.state.last_seq === emitted, 30_000);
    } finally {
      seq.kill('SIGTERM');
    }
    // A preload records fsync and rename calls in order (the ESM imports of node:fs see the patched functions).
    const log = join(dir, 'calls.log');
    const preload = join(dir, 'record-fs.cjs');
    writeFileSync(
      preload,
      `const fs = require('node:fs');
const { syncBuiltinESMExports } = require('node:module');
const log = (s) => fs.appendFileSync(${JSON.stringify(log)}, s + '\\n');
for (const name of ['fsync', 'fdatasync']) {
  const orig = fs[name];
  fs[name] = function (fd, cb) { log(name); return orig.call(this, fd, cb); };
  const origSync = fs[name + 'Sync'];
  fs[name + 'Sync'] = function (fd) { log(name); return origSync.call(this, fd); };
}
const origRename = fs.promises.rename;
fs.promises.rename = function (a, b) { log('rename ' + b); return origRename.call(this, a, b); };
const origOpen = fs.promises.open;
fs.promises.open = async function (...args) {
  const h = await origOpen.apply(this, args);
  const s = h.sync.bind(h);
  h.sync = async () => { log('fsync'); return s(); };
  const ds = h.datasync.bind(h);
  h.datasync = async () => { log('fdatasync'); return ds(); };
  return h;
};
syncBuiltinESMExports();
`,
    );
    const out = join(dir, 'chain.jsonl');
    const r = await runCli(['export', ...nats(), '--out', out], { env: { NODE_OPTIONS: `--require ${preload}` } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(emitted);
    // u64 beyond 2^53 stays a decimal string in the record.
    expect(readFileSync(out, 'utf8')).toContain('"compute_ms":"18446744073709551615"');
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    const renameAt = calls.indexOf(`rename ${out}`);
    expect(renameAt).toBeGreaterThan(0);
    expect(calls.slice(0, renameAt).some((c) => c === 'fsync' || c === 'fdatasync')).toBe(true);
  });

  it('export writes its own temporary file: an existing FILE.tmp is left alone, nothing is left behind, and two exports to one file both finish whole', async () => {
    const out = join(dir, 'theirs.jsonl');
    writeFileSync(`${out}.tmp`, 'not hwledger\'s\n');
    const r = await runCli(['export', ...nats(), '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // Before, the export wrote FILE.tmp (truncating the user's file) and renamed it away.
    expect(readFileSync(`${out}.tmp`, 'utf8')).toBe('not hwledger\'s\n');
    const whole = readFileSync(out, 'utf8');
    const sealed = (await (await jetstreamManager(broker.nc)).streams.info(streams.chain(CHAIN))).state.last_seq;
    expect(sealed).toBeGreaterThan(0);
    expect(whole.trim().split('\n')).toHaveLength(sealed);
    // Two at once into one file: each has its own temporary file, so both succeed and the file is a whole export.
    const both = await Promise.all([runCli(['export', ...nats(), '--out', out]), runCli(['export', ...nats(), '--out', out])]);
    expect(both.map((x) => [x.code, x.stderr])).toEqual([[0, ''], [0, '']]);
    expect(readFileSync(out, 'utf8')).toBe(whole);
    expect(readdirSync(dir).filter((f) => f.startsWith('theirs.jsonl.') && f !== 'theirs.jsonl.tmp')).toEqual([]);
  });

  it('export failing before it writes anything leaves an existing FILE.tmp alone', async () => {
    const out = join(dir, 'mine.jsonl');
    writeFileSync(`${out}.tmp`, 'not hwledger\'s\n');
    const r = await runCli(['export', ...nats(), '--out', out, '--from', '999']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/beyond the chain head/);
    expect(readFileSync(`${out}.tmp`, 'utf8')).toBe('not hwledger\'s\n');
  });
});
