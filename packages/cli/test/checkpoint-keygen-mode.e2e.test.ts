/**
 * `hwledger checkpoint keygen --force --out FILE` over an existing file: the
 * signer key (a private Ed25519 key) must end up private (0600) whatever the
 * mode of the file it replaced. writeFileSync's `mode` applies only when the
 * file is created, so an existing 0644 file (a placeholder, a copied key, a
 * file made by a tool with a default umask) kept 0644 and the new private key
 * was world-readable (found in a review).
 */
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '@hwledger/testkit';

const dir = mkdtempSync(join(tmpdir(), 'hwl-keygen-mode-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('checkpoint keygen --force', () => {
  it('leaves the signer key 0600 when it replaces a world-readable file', async () => {
    const out = join(dir, 'checkpoint.key');
    writeFileSync(out, 'old\n');
    chmodSync(out, 0o644);
    const r = await runCli(['checkpoint', 'keygen', '--name', 'keygen-mode', '--out', out, '--force']);
    expect(r.code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });
});
