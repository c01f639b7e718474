/**
 * `hwledger verify --file X --anchor 0:HASH` (built CLI; `npx tsc -b
 * packages/cli` first). Sequence 0 is genesis by definition (spec: "Hash
 * chain"): an anchor there whose hash is not the chain's genesis hash is no
 * trusted point. Threat: a forged chain whose record 1 links to a made-up
 * "genesis", handed over with that anchor, must fail at sequence 1
 * (anchor_mismatch), never print "verified … from genesis" and exit 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatExportLine, genesisHash, sealEvent, sha256, toHex, type ChainEvent } from '@hwledger/chain';
import { runCli } from '@hwledger/testkit';

const CHAIN = 'eu-west-1';

function event(i: number): ChainEvent {
  return {
    kind: 'job_failed',
    source: `${CHAIN}/node-1`,
    eventId: `ev-${i}`,
    observedAtMs: 1_763_800_000_000n + BigInt(i),
    tenant: 'acme',
    instanceId: `job:${i}`,
    data: { job_id: `job-${i}`, error_message: 'oom' },
  };
}

/** Export lines of records 1..n linked from `prev`. */
function exportFrom(prev: Uint8Array, n: number): string {
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) {
    const s = sealEvent(event(i), { chainId: CHAIN, sequence: BigInt(i), sealedAtMs: 1_763_800_000_100n + BigInt(i) }, prev);
    lines.push(formatExportLine({ record: s.record, canonical: s.canonical, hash: s.hash, prevHash: s.prevHash }));
    prev = s.hash;
  }
  return lines.join('\n') + '\n';
}

describe('hwledger verify --file --anchor 0:HASH', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hwl-anchor0-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses an anchor at 0 that is not the genesis hash, naming sequence 1', async () => {
    const fake = sha256(new TextEncoder().encode('made-up genesis'));
    const file = join(dir, 'forged.jsonl');
    writeFileSync(file, exportFrom(fake, 10));
    const r = await runCli(['verify', '--file', file, '--anchor', `0:${toHex(fake)}`]);
    expect(r.stdout).not.toMatch(/^verified/);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^FAILED at sequence 1: anchor_mismatch: anchor 0:[0-9a-f]{64} is not the genesis hash of chain "eu-west-1"/);
  });

  it('accepts the genesis hash written out as the anchor at 0', async () => {
    const file = join(dir, 'real.jsonl');
    writeFileSync(file, exportFrom(genesisHash(CHAIN), 10));
    const r = await runCli(['verify', '--file', file, '--anchor', `0:${toHex(genesisHash(CHAIN))}`]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^verified 10 records of chain eu-west-1 \(.*, from genesis\)/);
  });
});
