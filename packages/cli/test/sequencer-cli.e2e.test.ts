/**
 * The issue-3 CLI: `hwledger emit` (JSON lines -> ingest), `hwledger
 * sequencer` (with --metrics-port), `hwledger export` (spec export format)
 * and the live mode of verify (`hwledger verify` without --file, and
 * verifyLiveChain, its programmatic form: both run the same checks in
 * verify-live.ts), against a real nats-server and the built CLI. Purged
 * records: verify-live-gaps.e2e.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { eventToJson, hashFromHex, parseExportLine, sealEvent, toHex, verifyEntriesSync, genesisAnchor, type ChainEvent } from '@hwledger/chain';
import { HEADERS, streams, subjects } from '@hwledger/core';
import { freePort, runCli, spawnCli, useNatsServer, waitFor } from '@hwledger/testkit';
import { RawHeaders, readChainTail, REJECT_CODES } from '@hwledger/sequencer';
import type { ChildProcess } from 'node:child_process';
import { verifyLiveChain } from '../src/commands/verify-live.js';

const CHAIN = 'clitest';

function event(i: number): ChainEvent {
  return {
    kind: 'inference_request_completed',
    source: `${CHAIN}/node-a`,
    eventId: `cli-${i}`,
    observedAtMs: 1_763_800_000_000n + BigInt(i),
    tenant: 'acme',
    instanceId: `inference:request_completed:req-${i}`,
    data: { tenant_id: 'acme', request_id: `req-${i}`, total_tokens: 10 + i, compute_ms: BigInt(5 + i), reason: 'end_of_sequence' },
  };
}

const lines = (from: number, n: number): string =>
  Array.from({ length: n }, (_, k) => JSON.stringify(eventToJson(event(from + k)))).join('\n') + '\n';

describe('hwledger emit / sequencer / export / verify (live)', () => {
  const broker = useNatsServer();
  let seq: ChildProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'hwl-cli-'));
  let metricsPort = 0;

  afterAll(async () => {
    if (seq && seq.exitCode === null) {
      seq.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const nats = (): string[] => ['--nats', broker.url, '--chain', CHAIN];

  it('emit refuses invalid JSON and invalid events, naming the line, and publishes nothing', async () => {
    const bad = `${lines(0, 2)}{"kind": oops}\n`;
    const r = await runCli(['emit', ...nats()], { input: bad });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/line 3: invalid JSON/);
    const unknownReason = lines(0, 1) + JSON.stringify({ ...eventToJson(event(1)), data: { ...eventToJson(event(1)).data, reason: 'bored' } }) + '\n';
    const r2 = await runCli(['emit', ...nats()], { input: unknownReason });
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/line 2: INVALID_FIELD: .*reason/);
    const r3 = await runCli(['emit', ...nats()], { input: '{"kind":"job_failed"}\n' });
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/line 1:/);
    // Nothing reached ingest (the stream may not even exist yet).
    const jsm = await jetstreamManager(broker.nc);
    const info = await jsm.streams.info(streams.ingest(CHAIN)).catch(() => undefined);
    expect(info?.state.messages ?? 0).toBe(0);
  });

  it('emit publishes JSON lines in batches and prints how many were accepted; a re-run is deduplicated', async () => {
    const r = await runCli(['emit', ...nats(), '--batch', '10', '--node', 'node-a'], { input: lines(0, 45) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('accepted 45');
    const jsm = await jetstreamManager(broker.nc);
    expect((await jsm.streams.info(streams.ingest(CHAIN))).state.messages).toBe(5);
    const again = await runCli(['emit', ...nats(), '--batch', '10', '--node', 'node-a'], { input: lines(0, 45) });
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe('accepted 0');
    expect(again.stderr).toMatch(/45 events were already accepted/);
    // Without --node: the subject of the events' source's node (node-a).
    const more = await runCli(['emit', ...nats()], { input: lines(45, 5) });
    expect(more.stdout.trim()).toBe('accepted 5');
    expect((await jsm.streams.info(streams.ingest(CHAIN), { subjects_filter: '>' })).state.subjects).toEqual({ [subjects.ingest(CHAIN, 'node-a')]: 10 });
  });

  it('hwledger sequencer seals them and serves /metrics', async () => {
    metricsPort = await freePort();
    seq = spawnCli(['sequencer', ...nats(), '--metrics-port', String(metricsPort), '--takeover-grace-ms', '0']);
    const jsm = await jetstreamManager(broker.nc);
    await waitFor(async () => (await jsm.streams.info(streams.chain(CHAIN))).state.last_seq >= 50, 30_000, 100, '50 records');
    const text = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      const t = await res.text();
      return /hwl_records_sealed_total\{[^}]*kind="inference_request_completed"[^}]*\} 50/.test(t) ? t : undefined;
    }, 10_000, 100, 'metrics');
    expect(text).toMatch(/grafos_audit_records_inference_request_completed_total\{chain="clitest"\} 50/);
    expect(text).toMatch(/hwl_sequencer_is_leader\{chain="clitest"\} 1/);
    expect(text).toMatch(/hwl_seal_latency_seconds_count\{chain="clitest"\} 50/);
    expect(text).toMatch(/process_resident_memory_bytes/);
    // Every reject code is exported from 0 (alerts on a first dead letter need the zero sample).
    for (const code of REJECT_CODES) expect(text).toContain(`hwl_events_rejected_total{chain="clitest",code="${code}"} 0`);
  });

  it('export writes the spec export format, from genesis or from --from', async () => {
    const out = join(dir, 'chain.jsonl');
    const r = await runCli(['export', ...nats(), '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/exported 50 records \(1\.\.50\)/);
    const text = readFileSync(out, 'utf8').trim().split('\n');
    expect(text).toHaveLength(50);
    const entries = text.map((l, i) => parseExportLine(l, i + 1));
    const first = JSON.parse(text[0]!) as Record<string, unknown>;
    expect(Object.keys(first)).toEqual(['chain_id', 'sequence', 'canonical', 'hash', 'prev_hash', 'record']);
    expect(first['sequence']).toBe('1');
    expect((first['record'] as Record<string, unknown>)['event_id']).toBe('cli-0');
    const result = verifyEntriesSync(entries, genesisAnchor(CHAIN));
    expect(result.ok).toBe(true);

    const part = join(dir, 'part.jsonl');
    const r2 = await runCli(['export', ...nats(), '--out', part, '--from', '21']);
    expect(r2.code).toBe(0);
    const partLines = readFileSync(part, 'utf8').trim().split('\n');
    expect(partLines).toHaveLength(30);
    const anchor = { chainId: CHAIN, sequence: 20n, hash: entries[19]!.hash };
    expect(r2.stdout).toContain(`20:${toHex(entries[19]!.hash)}`);
    expect(verifyEntriesSync(partLines.map((l) => parseExportLine(l)), anchor).ok).toBe(true);

    const bad = await runCli(['export', ...nats(), '--out', join(dir, 'x.jsonl'), '--from', '99']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/beyond the chain head 50/);
  });

  it('verify (live) checks the chain stream from genesis or an anchor', async () => {
    const all = await verifyLiveChain({ natsUrl: broker.url, chainId: CHAIN });
    expect(all.result).toMatchObject({ ok: true, verified: 50 });
    expect(all.head).toBe(50n);
    const jsm = await jetstreamManager(broker.nc);
    const tail = await readChainTail(jsm, CHAIN);
    if (all.result.ok) expect(toHex(all.result.head.hash)).toBe(toHex(tail.hash));

    const m20 = await jsm.streams.getMessage(streams.chain(CHAIN), { seq: 20 });
    const anchor = { chainId: CHAIN, sequence: 20n, hash: hashFromHex(m20!.header.get(HEADERS.hash)) };
    const fromAnchor = await verifyLiveChain({ natsUrl: broker.url, chainId: CHAIN, anchor });
    expect(fromAnchor.result).toMatchObject({ ok: true, verified: 30 });

    const wrongAnchor = await verifyLiveChain({ natsUrl: broker.url, chainId: CHAIN, anchor: { ...anchor, hash: new Uint8Array(32) } });
    expect(wrongAnchor.result).toMatchObject({ ok: false, sequence: 20n, reason: 'anchor_mismatch' });

    // The CLI: `hwledger verify` without --file.
    const cli = await runCli(['verify', ...nats()]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toBe(`verified 50 records of chain ${CHAIN} (stream HWL_CHAIN_${CHAIN}, from genesis): head sequence 50, head hash ${toHex(tail.hash)}\n`);
    // Same verdict line as file mode on the export of the same chain, but for the source.
    const fileMode = await runCli(['verify', '--file', join(dir, 'chain.jsonl')]);
    expect(fileMode.code).toBe(0);
    const sourceless = (t: string): string => t.replace(/\(.*?, from/, '(…, from');
    expect(sourceless(fileMode.stdout)).toBe(sourceless(cli.stdout));
    const cliAnchor = await runCli(['verify', ...nats(), '--anchor', `20:${toHex(anchor.hash)}`]);
    expect(cliAnchor.code).toBe(0);
    expect(cliAnchor.stdout).toMatch(/^verified 30 records of chain clitest \(stream HWL_CHAIN_clitest, from anchor 20:[0-9a-f]{64}\): head sequence 50, /);
    const cliBad = await runCli(['verify', ...nats(), '--anchor', 'nonsense']);
    expect(cliBad.code).toBe(2);
  });

  it('verify (live) names the first tampered record', async () => {
    // Stop the sequencer, then append records by hand the way an attacker with
    // broker access could: one whose Hwl-Hash claim does not match its bytes.
    seq!.kill('SIGTERM');
    await new Promise((r) => seq!.once('exit', r));
    const jsm = await jetstreamManager(broker.nc);
    const tail = await readChainTail(jsm, CHAIN);
    const forged = sealEvent(event(1000), { chainId: CHAIN, sequence: tail.sequence + 1n, sealedAtMs: 1_763_900_000_000n }, tail.hash);
    const body = forged.canonical.slice();
    body[body.length - 1] = body[body.length - 1]! ^ 1; // the bytes stored differ from the ones hashed
    const h = new RawHeaders([
      [HEADERS.prevHash, toHex(tail.hash)],
      [HEADERS.hash, toHex(forged.hash)],
      [HEADERS.ingestSeq, '1'],
      [HEADERS.ingestIndex, '0'],
    ]).asMsgHdrs();
    broker.nc.publish(subjects.chain(CHAIN, 'inference_request_completed', 'acme'), body, { headers: h });
    await broker.nc.flush();
    await waitFor(async () => (await jsm.streams.info(streams.chain(CHAIN))).state.last_seq === 51, 5_000, 50, 'forged record');
    const r = await verifyLiveChain({ natsUrl: broker.url, chainId: CHAIN });
    expect(r.result).toMatchObject({ ok: false, sequence: 51n, reason: 'hash_mismatch', verified: 50 });
    const cli = await runCli(['verify', ...nats()]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/^FAILED at sequence 51: hash_mismatch: .*\(HWL_CHAIN_clitest message 51\)\n$/);
    // The sequencer refuses to extend a tail that does not check out.
    await expect(readChainTail(jsm, CHAIN)).rejects.toMatchObject({ code: 'INTEGRITY' });
    const s2 = await runCli(['sequencer', ...nats(), '--takeover-grace-ms', '0'], { timeoutMs: 30_000 });
    expect(s2.code).toBe(1);
    expect(s2.stderr).toMatch(/INTEGRITY: chain clitest: tail record 51/);
  });
});
