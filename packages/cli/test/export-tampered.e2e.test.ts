/**
 * `hwledger export` of a chain stream holding a tampered record: record 3's
 * body was altered after sealing (its Hwl-Hash / Hwl-Prev-Hash headers are
 * the ones the sequencer wrote). Live `hwledger verify` names it
 * (hash_mismatch at 3), and so must `verify --file` on the export: each line's
 * `hash` is the chain's own claim (Hwl-Hash), never recomputed by the export.
 * Recomputed, the export was a self-consistent chain that verified ("verified
 * 5 records"), and the evidence was gone (found by a review helper). A record
 * without its hash headers is refused (INTEGRITY, no file).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import { genesisHash, sealEvent, toHex, type ChainEvent } from '@hwledger/chain';
import { ensureChainTopology, HEADERS, subjects } from '@hwledger/core';
import { runCli, useNatsServer } from '@hwledger/testkit';
import { RawHeaders } from '@hwledger/sequencer';

const CHAIN = 'tamper';

function event(i: number): ChainEvent {
  return {
    kind: 'inference_request_completed',
    source: `${CHAIN}/node-1`,
    eventId: `t-${i}`,
    observedAtMs: 1_763_800_000_000n + BigInt(i),
    tenant: 'acme',
    instanceId: `inference:request_completed:req-${i}`,
    data: { tenant_id: 'acme', request_id: `req-${i}`, total_tokens: 10 + i, compute_ms: BigInt(5 + i), reason: 'end_of_sequence' },
  };
}

describe('export of a chain with a tampered record', () => {
  const nats = useNatsServer();
  const dir = mkdtempSync(join(tmpdir(), 'hwl-tamper-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cli = (...args: string[]): ReturnType<typeof runCli> => runCli([...args, '--nats', nats.url, '--chain', CHAIN], { env: { HWL_CHAIN_ID: '' }, timeoutMs: 20_000 });

  it('keeps the chain\'s own hash claims, so verify --file names the tampered record as live verify does', async () => {
    await ensureChainTopology(nats.nc, CHAIN);
    const js = jetstream(nats.nc);
    let prev = genesisHash(CHAIN);
    for (let seq = 1; seq <= 5; seq++) {
      const s = sealEvent(event(seq), { chainId: CHAIN, sequence: BigInt(seq), sealedAtMs: 1_763_900_000_000n }, prev);
      const body = s.canonical.slice();
      // Record 3: the stored bytes are edited after sealing (total_tokens changed: 13 -> 99 tokens billed).
      if (seq === 3) {
        const i = body.length - 'end_of_sequence'.length - 4 - 8 - 1; // last byte of total_tokens (u32), before compute_ms and reason
        expect(body[i]).toBe(13);
        body[i] = 99;
      }
      const headers = new RawHeaders([
        [HEADERS.prevHash, toHex(prev)],
        [HEADERS.hash, toHex(s.hash)],
      ]).asMsgHdrs();
      const ack = await js.publish(subjects.chain(CHAIN, 'inference_request_completed', 'acme'), body, { headers });
      expect(ack.seq).toBe(seq);
      prev = s.hash;
    }

    // Live verify names the tampered record.
    const live = await cli('verify');
    expect(live.stdout).toMatch(/^FAILED at sequence 3: hash_mismatch: /);
    expect(live.code).toBe(1);

    // Export, then verify the export the way the docs say (verify with anchor genesis).
    const out = join(dir, 'tampered.jsonl');
    const e = await cli('export', '--out', out);
    expect(e.code, e.stderr).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(5);
    const file = await runCli(['verify', '--file', out], { env: { HWL_CHAIN_ID: '' }, timeoutMs: 20_000 });
    expect(file.stdout).toMatch(/^FAILED at sequence 3: hash_mismatch: /);
    expect(file.code).toBe(1);
    // The same from the middle: an export from 2 needs the anchor of 1, and still fails at 3.
    const tail = join(dir, 'tail.jsonl');
    const t = await cli('export', '--out', tail, '--from', '2');
    expect(t.code, t.stderr).toBe(0);
    const anchor = /verify with anchor (1:[0-9a-f]{64})/.exec(t.stdout)?.[1];
    expect(anchor).toBeDefined();
    const tf = await runCli(['verify', '--file', tail, '--anchor', anchor!], { env: { HWL_CHAIN_ID: '' }, timeoutMs: 20_000 });
    expect(tf.stdout).toMatch(/^FAILED at sequence 3: hash_mismatch: /);
  });

  it('refuses a record without its hash headers (not written by a sequencer): no file', async () => {
    const chain = 'noclaims';
    await ensureChainTopology(nats.nc, chain);
    const s = sealEvent({ ...event(1), source: `${chain}/node-1` }, { chainId: chain, sequence: 1n, sealedAtMs: 1_763_900_000_000n }, genesisHash(chain));
    await jetstream(nats.nc).publish(subjects.chain(chain, 'inference_request_completed', 'acme'), s.canonical);
    const out = join(dir, 'noclaims.jsonl');
    const e = await runCli(['export', '--out', out, '--nats', nats.url, '--chain', chain], { env: { HWL_CHAIN_ID: '' }, timeoutMs: 20_000 });
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/record 1 has no Hwl-Hash header: not written by a sequencer/);
    expect(existsSync(out)).toBe(false);
  });
});
