/**
 * `verify --file --checkpoint NOTE` without --chain takes the chain id
 * from the note itself (attacker-supplied input) and then checks key binding
 * only for that one chain, so with the keys of several regions unbound
 * (HWL_CHECKPOINT_PUBKEYS lists us-east's and eu-west's keys) the holder of
 * eu-west's key can re-seal us-east's history, sign a note for it with
 * eu-west's key, and the export verifies. verify-proof, whose bundle also
 * names its own chain, refuses several unbound keys without --chain
 * (keys-cli.ts requireBoundKeys: "chains unknown, e.g. a proof bundle names
 * its own"); now so does this mode (found in a review). Real CLI, files only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatExportLine, formatVerifierKey, generateSigner, genesisHash, MerkleAccumulator, sealEvent, signCheckpoint, verifierOf, COMPLETION_REASONS, type ChainEvent } from '@hwledger/chain';
import { runCli } from '@hwledger/testkit';

const work = mkdtempSync(join(tmpdir(), 'hwl-vfc-keys-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function event(i: number): ChainEvent {
  return {
    kind: 'inference_request_completed',
    source: 'us-east/node-1',
    eventId: `forged-${i}`,
    observedAtMs: 1_700_000_000_000n + BigInt(i),
    tenant: 'acme',
    instanceId: `inference:request_completed:req-${i}`,
    data: { tenant_id: 'acme', request_id: `req-${i}`, total_tokens: 1, compute_ms: 1n, reason: COMPLETION_REASONS[0]! },
  } as ChainEvent;
}

describe('verify --file --checkpoint, chain taken from the note', () => {
  it('refuses several unbound keys when no --chain is given (as verify-proof does), instead of trusting any of them for the chain the note names', async () => {
    const usEast = generateSigner('us-east');
    const euWest = generateSigner('eu-west'); // the attacker holds this region's key
    const usPub = join(work, 'us-east.pub');
    const euPub = join(work, 'eu-west.pub');
    writeFileSync(usPub, `${formatVerifierKey(verifierOf(usEast))}\n`);
    writeFileSync(euPub, `${formatVerifierKey(verifierOf(euWest))}\n`);

    // A forged history of chain us-east, sealed from genesis, and a note for it signed by eu-west's key.
    const chainId = 'us-east';
    let prev = genesisHash(chainId);
    const acc = new MerkleAccumulator();
    const lines: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const s = sealEvent(event(i), { chainId, sequence: BigInt(i), sealedAtMs: 1_700_000_000_000n + BigInt(i) }, prev);
      lines.push(formatExportLine({ record: s.record, canonical: s.canonical, hash: s.hash, prevHash: s.prevHash }));
      acc.append(s.hash);
      prev = s.hash;
    }
    const file = join(work, 'forged.jsonl');
    writeFileSync(file, lines.join('\n') + '\n');
    const note = join(work, 'forged.note');
    writeFileSync(note, signCheckpoint({ chainId, sequence: 5n, headHash: prev, rootHash: acc.root(), timeMs: 1n }, [euWest]).note);

    const r = await runCli(['verify', '--file', file, '--checkpoint', note], {
      env: { HWL_LOG_LEVEL: 'warn', HWL_CHAIN_ID: '', HWL_CHECKPOINT_PUBKEYS: `${usPub},${euPub}` },
      timeoutMs: 60_000,
    });
    // Before: exit 0, "verified 5 records of chain us-east ... 1 signed checkpoint verified".
    expect(r.stdout).not.toMatch(/^verified/);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bind each key/);
  });
});
