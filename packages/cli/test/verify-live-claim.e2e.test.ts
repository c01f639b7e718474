/**
 * A chain record whose Hwl-Hash header is not a hash: verify-live.ts
 * `claim()` makes it a `hash_mismatch` failure (a `broken_link` for
 * Hwl-Prev-Hash), and the CLI must give the same reason as its programmatic
 * form `verifyLiveChain()` ("both run the same code"). It used to call the
 * record, whose bytes decode fine, `undecodable` (found by a review helper).
 */
import { describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import { genesisHash, sealEvent, toHex, type ChainEvent } from '@hwledger/chain';
import { ensureChainTopology, HEADERS, subjects } from '@hwledger/core';
import { runCli, useNatsServer } from '@hwledger/testkit';
import { RawHeaders } from '@hwledger/sequencer';
import { verifyLiveChain } from '../src/commands/verify-live.js';

const CHAIN = 'claims';

function event(i: number): ChainEvent {
  return {
    kind: 'inference_request_completed',
    source: `${CHAIN}/node-1`,
    eventId: `c-${i}`,
    observedAtMs: 1_763_800_000_000n + BigInt(i),
    tenant: 'acme',
    instanceId: `inference:request_completed:req-${i}`,
    data: { tenant_id: 'acme', request_id: `req-${i}`, total_tokens: 10 + i, compute_ms: BigInt(5 + i), reason: 'end_of_sequence' },
  };
}

describe('live verify: a Hwl-Hash header that is not a hash', () => {
  const nats = useNatsServer();

  it('the CLI reports the same reason as verifyLiveChain', async () => {
    await ensureChainTopology(nats.nc, CHAIN);
    const js = jetstream(nats.nc);
    let prev = genesisHash(CHAIN);
    for (let seq = 1; seq <= 3; seq++) {
      const s = sealEvent(event(seq), { chainId: CHAIN, sequence: BigInt(seq), sealedAtMs: 1_763_900_000_000n }, prev);
      const headers = new RawHeaders([
        [HEADERS.prevHash, toHex(prev)],
        [HEADERS.hash, seq === 2 ? 'NOT-A-HASH' : toHex(s.hash)],
      ]).asMsgHdrs();
      await js.publish(subjects.chain(CHAIN, 'inference_request_completed', 'acme'), s.canonical, { headers });
      prev = s.hash;
    }
    const api = await verifyLiveChain({ natsUrl: nats.url, chainId: CHAIN });
    expect(api.result).toMatchObject({ ok: false, sequence: 2n, reason: 'hash_mismatch' });

    const cli = await runCli(['verify', '--nats', nats.url, '--chain', CHAIN], { env: { HWL_CHAIN_ID: '' }, timeoutMs: 20_000 });
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/^FAILED at sequence 2: hash_mismatch: /);
  });
});
