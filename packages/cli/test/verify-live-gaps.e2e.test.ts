/**
 * Missing records at the head of a chain stream, for `hwledger verify`
 * (live mode), `verifyLiveChain` and `hwledger export`, against a real
 * nats-server and the built CLI (run `npx tsc -b packages/cli` first).
 *
 * Threat: someone with purge rights on HWL_CHAIN_<chain> (purge is allowed
 * on chain streams, single-message delete is not) removes every record after
 * the anchor, or the newest records of one subject. Reading the stream then
 * yields nothing (or stops early) and a verifier that does not compare what
 * it read with the stream's last sequence reports "verified 0 records" and
 * exits 0. Both commands must instead fail, naming the first missing
 * sequence; a chain that never sealed anything still verifies and exports
 * (0 records). Also: export's output errors are one clean line, and
 * `verify --file` honours an explicit chain id (flag or HWL_CHAIN_ID).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { genesisHash, sealEvent, toHex, type ChainEvent } from '@hwledger/chain';
import { ensureChainTopology, HEADERS, streams, subjects } from '@hwledger/core';
import { runCli, useNatsServer } from '@hwledger/testkit';
import { RawHeaders } from '@hwledger/sequencer';
import { verifyLiveChain } from '../src/commands/verify-live.js';

function event(i: number, tenant: string): ChainEvent {
  return {
    kind: 'inference_request_completed',
    source: 'gaps-test/node-1',
    eventId: `gap-${i}`,
    observedAtMs: 1_763_800_000_000n + BigInt(i),
    tenant,
    instanceId: `inference:request_completed:req-${i}`,
    data: { tenant_id: tenant, request_id: `req-${i}`, total_tokens: 10 + i, compute_ms: BigInt(5 + i), reason: 'end_of_sequence' },
  };
}

describe('verify (live) and export: records missing at the head', () => {
  const nats = useNatsServer();
  const dir = mkdtempSync(join(tmpdir(), 'hwl-gaps-'));
  /** Hashes by chain, index = sequence (0 = genesis). */
  const hashes = new Map<string, Uint8Array[]>();

  /** Seals `n` records onto `chain` the way the sequencer does (body, headers, stream seq = record seq). */
  async function seal(chain: string, n: number, tenant = (_i: number): string => 'acme'): Promise<void> {
    await ensureChainTopology(nats.nc, chain);
    const js = jetstream(nats.nc);
    const hs = hashes.get(chain) ?? [genesisHash(chain)];
    hashes.set(chain, hs);
    for (let k = 0; k < n; k++) {
      const sequence = BigInt(hs.length);
      const prev = hs[hs.length - 1]!;
      const t = tenant(hs.length);
      const s = sealEvent(event(hs.length, t), { chainId: chain, sequence, sealedAtMs: 1_763_900_000_000n }, prev);
      const headers = new RawHeaders([
        [HEADERS.prevHash, toHex(prev)],
        [HEADERS.hash, toHex(s.hash)],
      ]).asMsgHdrs();
      const ack = await js.publish(subjects.chain(chain, 'inference_request_completed', t), s.canonical, { headers });
      expect(BigInt(ack.seq)).toBe(sequence);
      hs.push(s.hash);
    }
  }
  const hashAt = (chain: string, seq: number): string => toHex(hashes.get(chain)![seq]!);
  const cli = (chain: string, ...args: string[]): ReturnType<typeof runCli> => runCli([...args, '--nats', nats.url, '--chain', chain], { env: { HWL_CHAIN_ID: '' }, timeoutMs: 20_000 });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a chain that never sealed anything verifies and exports 0 records', async () => {
    await ensureChainTopology(nats.nc, 'empty');
    const r = await cli('empty', 'verify');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`verified 0 records of chain empty (stream HWL_CHAIN_empty, from genesis): head sequence 0, head hash ${toHex(genesisHash('empty'))}\n`);
    expect(r.code).toBe(0);
    const live = await verifyLiveChain({ natsUrl: nats.url, chainId: 'empty' });
    expect(live).toMatchObject({ head: 0n, result: { ok: true, verified: 0 } });

    const out = join(dir, 'empty.jsonl');
    const e = await cli('empty', 'export', '--out', out);
    expect(e.stderr).toBe('');
    expect(e.code).toBe(0);
    expect(e.stdout).toMatch(/^exported 0 records \(none\) of chain empty/);
    expect(readFileSync(out, 'utf8')).toBe('');
  });

  it('a fully purged chain fails verify (gap at the first missing sequence) from genesis and from an anchor', async () => {
    await seal('purged', 10);
    await (await jetstreamManager(nats.nc)).streams.purge(streams.chain('purged'));
    const info = await (await jetstreamManager(nats.nc)).streams.info(streams.chain('purged'));
    expect(info.state).toMatchObject({ messages: 0, last_seq: 10 });

    const r = await cli('purged', 'verify');
    expect(r.stdout).toMatch(/^FAILED at sequence 1: gap: expected sequence 1, the stream holds nothing from 1 to its head 10 \(purged or missing records\) \(HWL_CHAIN_purged\)\n$/);
    expect(r.code).toBe(1);
    const live = await verifyLiveChain({ natsUrl: nats.url, chainId: 'purged' });
    expect(live).toMatchObject({ head: 10n, result: { ok: false, sequence: 1n, reason: 'gap', verified: 0 } });

    const a = await cli('purged', 'verify', '--anchor', `4:${hashAt('purged', 4)}`);
    expect(a.stdout).toMatch(/^FAILED at sequence 5: gap: /);
    expect(a.code).toBe(1);
    const liveA = await verifyLiveChain({ natsUrl: nats.url, chainId: 'purged', anchor: { chainId: 'purged', sequence: 4n, hash: hashes.get('purged')![4]! } });
    expect(liveA.result).toMatchObject({ ok: false, sequence: 5n, reason: 'gap' });

    // An anchor at the head: nothing after it is missing.
    const atHead = await cli('purged', 'verify', '--anchor', `10:${hashAt('purged', 10)}`);
    expect(atHead.stdout).toMatch(/^verified 0 records of chain purged .*head sequence 10, /);
    expect(atHead.code).toBe(0);
  });

  it('a fully purged chain fails export, leaving no file', async () => {
    for (const from of ['1', '5', '10']) {
      const out = join(dir, `purged-${from}.jsonl`);
      const e = await cli('purged', 'export', '--out', out, '--from', from);
      expect(e.stdout).toBe('');
      expect(e.stderr).toBe(`hwledger: INTEGRITY: chain purged: records ${from}..10 are not in stream HWL_CHAIN_purged (purged or missing; it holds none): cannot export from ${from}\n`);
      expect(e.code).toBe(1);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(`${out}.tmp`)).toBe(false);
    }
    // Just past the head: an empty export, nothing missing.
    const next = await cli('purged', 'export', '--out', join(dir, 'next.jsonl'), '--from', '11');
    expect(next.code).toBe(0);
    expect(next.stdout).toMatch(/^exported 0 records \(none\) of chain purged/);
  });

  it('a purged prefix: export from a purged sequence fails, from the first retained one works', async () => {
    await seal('prefix', 10);
    await (await jetstreamManager(nats.nc)).streams.purge(streams.chain('prefix'), { seq: 6 });
    const e = await cli('prefix', 'export', '--out', join(dir, 'prefix-3.jsonl'), '--from', '3');
    expect(e.stderr).toBe(`hwledger: INTEGRITY: chain prefix: records 3..5 are not in stream HWL_CHAIN_prefix (purged or missing; it holds 5 in 6..10): cannot export from 3\n`);
    expect(e.code).toBe(1);
    const ok = await cli('prefix', 'export', '--out', join(dir, 'prefix-6.jsonl'), '--from', '6');
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(new RegExp(`^exported 5 records \\(6\\.\\.10\\) of chain prefix .*anchor 5:${hashAt('prefix', 5)} `));
    expect(ok.code).toBe(0);

    const v = await cli('prefix', 'verify');
    expect(v.stdout).toMatch(/^FAILED at sequence 1: gap: expected sequence 1, found 6 /);
    expect(v.code).toBe(1);
    const fromAnchor = await cli('prefix', 'verify', '--anchor', `5:${hashAt('prefix', 5)}`);
    expect(fromAnchor.stdout).toMatch(/^verified 5 records of chain prefix .*head sequence 10, /);
    expect(fromAnchor.code).toBe(0);
  });

  it('the newest records purged by subject: verify and export fail instead of stopping early (or waiting)', async () => {
    // Records 1..6 of tenant acme, 7..9 of tenant evil, whose subject is then purged.
    await seal('tail', 9, (i) => (i <= 6 ? 'acme' : 'evil'));
    await (await jetstreamManager(nats.nc)).streams.purge(streams.chain('tail'), { filter: subjects.chain('tail', 'inference_request_completed', 'evil') });
    const info = await (await jetstreamManager(nats.nc)).streams.info(streams.chain('tail'));
    expect(info.state).toMatchObject({ messages: 6, last_seq: 9 });

    const v = await cli('tail', 'verify');
    expect(v.stdout).toMatch(/^FAILED at sequence 7: gap: expected sequence 7, the stream holds nothing from 7 to its head 9 \(purged or missing records\) \(HWL_CHAIN_tail\)\n$/);
    expect(v.code).toBe(1);
    const live = await verifyLiveChain({ natsUrl: nats.url, chainId: 'tail' });
    expect(live).toMatchObject({ head: 9n, result: { ok: false, sequence: 7n, reason: 'gap', verified: 6 } });

    const out = join(dir, 'tail.jsonl');
    const e = await cli('tail', 'export', '--out', out);
    expect(e.stderr).toBe(`hwledger: INTEGRITY: chain tail: records 7..9 are not in stream HWL_CHAIN_tail (purged or missing): the export stops at 6\n`);
    expect(e.code).toBe(1);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.tmp`)).toBe(false);
  }, 60_000);

  it('export: an output that cannot be written is one line on stderr and exit 2, never a stack trace', async () => {
    await seal('out', 3);
    const missingDir = join(dir, 'no-such-dir', 'x.jsonl');
    const a = await cli('out', 'export', '--out', missingDir);
    expect(a.stderr).toMatch(new RegExp(`^hwledger: cannot write export ${missingDir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: ENOENT[^\\n]*\\n$`));
    expect(a.stdout).toBe('');
    expect(a.code).toBe(2);

    const isDir = join(dir, 'a-directory');
    mkdirSync(isDir);
    const b = await cli('out', 'export', '--out', isDir);
    expect(b.stderr).toMatch(/^hwledger: cannot write export .*a-directory: E[A-Z]+[^\n]*\n$/);
    expect(b.stdout).toBe('');
    expect(b.code).toBe(2);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(readdirSync(isDir)).toEqual([]);
  });

  it('verify --file: an explicit chain id (--chain or HWL_CHAIN_ID) must match the records', async () => {
    const out = join(dir, 'out.jsonl');
    expect((await cli('out', 'export', '--out', out)).code).toBe(0);
    const file = (env: NodeJS.ProcessEnv, ...args: string[]): ReturnType<typeof runCli> => runCli(['verify', '--file', out, ...args], { env });

    const viaEnv = await file({ HWL_CHAIN_ID: 'other' });
    expect(viaEnv.stdout).toMatch(/^FAILED at sequence 1: wrong_chain: record 1 belongs to chain "out", not "other" \(out\.jsonl:1\)\n$/);
    expect(viaEnv.code).toBe(1);
    const viaFlag = await file({ HWL_CHAIN_ID: '' }, '--chain', 'other');
    expect(viaFlag.stdout).toMatch(/^FAILED at sequence 1: wrong_chain: /);
    expect(viaFlag.code).toBe(1);
    // The flag wins over the environment; the same chain, or none given, verifies.
    const flagWins = await file({ HWL_CHAIN_ID: 'other' }, '--chain', 'out');
    expect(flagWins.stdout).toMatch(/^verified 3 records of chain out /);
    expect(flagWins.code).toBe(0);
    const same = await file({ HWL_CHAIN_ID: 'out' });
    expect(same.code).toBe(0);
    const none = await file({ HWL_CHAIN_ID: '' });
    expect(none.stdout).toMatch(/^verified 3 records of chain out /);
    expect(none.code).toBe(0);
  });
});
