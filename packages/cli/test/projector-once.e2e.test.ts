/**
 * `hwledger projector --once` is the scripted form ("exit once the stream
 * head (at start) is projected; exit 1 if the chain is broken"). Two ways it
 * reported nothing useful to a script (found in a review):
 *
 * 1. A chain whose stream does not exist (a typo in --chain, a chain never
 *    created on this NATS): the projector retried "stream not found" for
 *    ever, so `--once` never exited. Now: exit 2, naming the chain.
 * 2. Stopped by SIGTERM before it reached the head, it printed its state and
 *    exited 0, which a script reads as "projected up to the head". Now: exit 1.
 */
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runCli, spawnCli, useNatsServer, useTestDatabase, waitFor } from '@hwledger/testkit';
import { ChainWriter } from '../../ledger-ops/test/chain-fixture.js';

const nats = useNatsServer();
const database = useTestDatabase({ prefix: 'hwl_projector_once' });

function exitOf(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve({ code: p.exitCode, signal: p.signalCode });
  return new Promise((resolve) => p.once('exit', (code, signal) => resolve({ code, signal })));
}

describe('projector --once', () => {
  it('exits (non-zero, one line) for a chain that has no stream instead of retrying forever', async () => {
    const r = await runCli(['projector', '--once', '--nats', nats.url, '--chain', 'no-such-chain', '--db', database.db.url], { timeoutMs: 30_000 });
    // Before the fix: killed by the 30 s timeout (signal SIGKILL), still retrying "stream not found".
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/chain no-such-chain has no stream HWL_CHAIN_no-such-chain/);
  });

  it('does not exit 0 when stopped by SIGTERM before it reached the head', async () => {
    const w = await ChainWriter.open(nats.nc, 'once-stopped');
    await w.append(30_000);
    // Small batches: the projection is still running when the signal comes.
    const p = spawnCli(['projector', '--once', '--batch', '10', '--nats', nats.url, '--chain', 'once-stopped', '--db', database.db.url]);
    let out = '';
    let stdout = '';
    p.stdout?.on('data', (d: Buffer) => ((out += d.toString()), (stdout += d.toString())));
    p.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('"msg":"projecting"'), 30_000, 20, 'the projector to start projecting');
    p.kill('SIGTERM');
    const r = await exitOf(p);
    const summary = stdout.split('\n').find((l) => l.startsWith('{"chain_id"'));
    expect(summary, out).toBeDefined();
    expect(JSON.parse(summary!).state).not.toBe('caught_up'); // else the test proves nothing
    // Before the fix: exit 0.
    expect(r.code).toBe(1);
  }, 60_000);
});
