/**
 * A git replica is attacker-supplied, and verifyGitReplica read each
 * `checkpoints/*.note` with an uncapped readFileSync (git-replica.ts, the
 * `expected.push({ note: readFileSync(...) })` loop). anchor.json (1 MiB) and an
 * archive's checkpoint-<N>.note (MAX_NOTE_BYTES, 1 MiB) are size-checked first;
 * the replica's notes were not (found in a review). A sparse 700 MB note
 * costs nothing on disk, but the verifier allocated all of it and then threw
 * a raw V8 error ("Cannot create a string longer than ...") instead of
 * reporting a failed replica naming the note file. Now it is lstat'ed first.
 */
import { mkdirSync, mkdtempSync, rmSync, openSync, closeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigner, verifierOf } from '@hwledger/chain';
import { verifyGitReplica } from '@hwledger/ledger-ops';

const chain = 'big-note';
const keys = [{ ...verifierOf(generateSigner('hwl-big-note')), chains: [chain] }];
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hwl-big-note-'));
  mkdirSync(join(dir, chain, 'checkpoints'), { recursive: true });
  mkdirSync(join(dir, chain, 'segments'), { recursive: true });
  // A sparse file: 700 MB long, no blocks on disk.
  const fd = openSync(join(dir, chain, 'checkpoints', `${'1000'.padStart(20, '0')}.note`), 'w');
  ftruncateSync(fd, 700 * 1024 * 1024);
  closeSync(fd);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('verify --git with an oversized checkpoint note', () => {
  it('reports a failed replica naming the note, instead of reading it whole and throwing', async () => {
    const out = await verifyGitReplica(dir, { chainId: chain, trusted: keys }).then(
      (r) => ({ ok: true as const, r }),
      (e: unknown) => ({ ok: false as const, e: e instanceof Error ? e.message : String(e) }),
    );
    expect(out.ok ? 'resolved' : `threw: ${out.e}`).toBe('resolved');
    const rep = out.ok ? out.r[0]! : undefined;
    expect(rep?.result.ok).toBe(false);
    expect(rep && !rep.result.ok ? rep.result.file : undefined).toBe(`${chain}/checkpoints/${'1000'.padStart(20, '0')}.note`);
  }, 60_000);
});
