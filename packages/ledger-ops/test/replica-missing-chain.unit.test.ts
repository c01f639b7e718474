/**
 * `verify --git DIR --chain ID` (verifyGitReplica with a chain id) on a
 * replica that holds nothing of that chain (no segments, no checkpoints, no
 * anchor: a mistyped chain, a wrong directory, a chain folder deleted
 * whole) must not pass as "0 records verified": with no chain id the same
 * directory is NOT_FOUND, and so is `verify --archive` of a chain it lacks.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyGitReplica } from '@hwledger/ledger-ops';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hwl-replica-missing-'));
  // A replica of another chain only.
  mkdirSync(join(dir, 'other-1', 'segments'), { recursive: true });
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('verifyGitReplica with a chain id the replica does not hold', () => {
  it('is NOT_FOUND, not a success with 0 records', async () => {
    const r = await verifyGitReplica(dir, { chainId: 'eu-west-1' }).catch((e: unknown) => e);
    expect(r).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a chain whose folder is empty is NOT_FOUND too', async () => {
    mkdirSync(join(dir, 'empty-1'));
    const r = await verifyGitReplica(dir, { chainId: 'empty-1' }).catch((e: unknown) => e);
    expect(r).toMatchObject({ code: 'NOT_FOUND' });
  });
});
