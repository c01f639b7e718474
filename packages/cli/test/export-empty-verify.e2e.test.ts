/**
 * An export that `hwledger export` writes for a chain with nothing to export
 * (a chain that never sealed anything, or `--from` just past the head) holds
 * no records. Live `hwledger verify` of such a chain passes ("verified 0
 * records", exit 0), and so does `verify --file` of its export when the
 * chain is named (--chain, as export's output says): an `export && verify
 * --file` audit job no longer fails on every chain that is still empty (found
 * by a review helper). Without --chain the file cannot say which chain it is,
 * and it is refused (exit 1; verify-file.e2e.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { genesisHash, toHex } from '@hwledger/chain';
import { ensureChainTopology } from '@hwledger/core';
import { runCli, useNatsServer } from '@hwledger/testkit';

describe('export of an empty chain, then verify --file', () => {
  const nats = useNatsServer();
  const dir = mkdtempSync(join(tmpdir(), 'hwl-empty-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = { env: { HWL_CHAIN_ID: '' }, timeoutMs: 20_000 };

  it('verify --file of the export passes as live verify does', async () => {
    await ensureChainTopology(nats.nc, 'fresh');
    const live = await runCli(['verify', '--nats', nats.url, '--chain', 'fresh'], env);
    expect(live.code).toBe(0);
    expect(live.stdout).toBe(`verified 0 records of chain fresh (stream HWL_CHAIN_fresh, from genesis): head sequence 0, head hash ${toHex(genesisHash('fresh'))}\n`);

    const out = join(dir, 'fresh.jsonl');
    const e = await runCli(['export', '--nats', nats.url, '--chain', 'fresh', '--out', out], env);
    expect(e.code).toBe(0);
    expect(e.stdout).toMatch(/^exported 0 records \(none\) of chain fresh .*verify with anchor genesis and --chain fresh\n$/);

    // The verification the export's own output asks for.
    const file = await runCli(['verify', '--file', out, '--chain', 'fresh'], env);
    expect({ code: file.code, stderr: file.stderr }).toEqual({ code: 0, stderr: '' });
    expect(file.stdout).toMatch(/^verified 0 records of chain fresh \(.*, from genesis\): head sequence 0, /);
  });
});
