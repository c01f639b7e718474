/**
 * `hwledger export` interrupted (Ctrl-C, `timeout`, a cron/k8s job stopped
 * with SIGTERM) removes its temporary file FILE.<pid>.<random>.tmp before it
 * exits. Found in a review: with the temporary file's unique name, every
 * interrupted run left another partial export (as large as the chain) that
 * nothing removed. Real nats-server, the real CLI.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCli, useNatsServer, waitFor } from '@hwledger/testkit';
import { ChainWriter } from '../../ledger-ops/test/chain-fixture.js';

const CHAIN = 'export-interrupted';
const broker = useNatsServer({ clientName: 'export-interrupted' });
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hwl-export-interrupted-'));
  const w = await ChainWriter.open(broker.nc, CHAIN);
  await w.append(60_000);
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('export interrupted', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} mid-export leaves no temporary file behind`, async () => {
      const out = join(dir, `chain-${signal}.jsonl`);
      const p = spawnCli(['export', '--nats', broker.url, '--chain', CHAIN, '--out', out], { env: { HWL_LOG_LEVEL: 'warn' } });
      const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
      const tmps = (): string[] => readdirSync(dir).filter((f) => f.startsWith(`chain-${signal}.jsonl.`) && f.endsWith('.tmp'));
      // Wait until the export is writing its temporary file, then interrupt it.
      await waitFor(() => tmps().some((f) => statSync(join(dir, f)).size > 0), 60_000, 5, 'the export writing its temporary file');
      p.kill(signal);
      expect(await exited).toBe(signal === 'SIGINT' ? 130 : 143);
      expect(readdirSync(dir).includes(`chain-${signal}.jsonl`)).toBe(false); // it did not finish (else the test proves nothing)
      expect(tmps()).toEqual([]);
    });
  }
});
