/**
 * Bad configuration is one line naming the setting, exit 2
 * (docs/operations.md "Bad configuration ... exit 2"), and no password in any
 * error (docs: "every error show[s] URL passwords as ***"). Found by a review
 * helper: an HWL_HOME that cannot be created printed the raw ENOTDIR/EACCES
 * and exited 1, and a DATABASE_URL password given as ?password= was printed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '@hwledger/testkit';

const RUNNER = fileURLToPath(new URL('../bin/hwledger-stack.js', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function run(extra: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const base = mkdtempSync(join(tmpdir(), 'hwl-stack-config-'));
  dirs.push(base);
  // Free ports, so that the start gets past its port checks to the setting under test.
  const port = async (): Promise<string> => String(await freePort());
  const ports = { HWL_NATS_PORT: await port(), HWL_PG_PORT: await port(), HWL_HTTP_PORT: await port(), HWL_GRPC_PORT: await port(), HWL_METRICS_PORT: await port() };
  const r = spawnSync(process.execPath, [RUNNER], {
    env: { ...process.env, HWL_HOME: join(base, 'home'), ...ports, ...extra },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stderr: r.stderr };
}

describe('stack configuration errors', () => {
  it('an HWL_HOME that cannot be created is a CONFIG error naming HWL_HOME, exit 2', async () => {
    const base = mkdtempSync(join(tmpdir(), 'hwl-stack-config-file-'));
    dirs.push(base);
    const file = join(base, 'not-a-folder');
    writeFileSync(file, 'x');
    const r = await run({ HWL_HOME: join(file, 'home') });
    // Before: "hwledger start: ENOTDIR: ENOTDIR: not a directory, mkdir '…'" and exit 1.
    expect(r.stderr).toMatch(/^hwledger start: HWL_HOME: cannot use .* as the stack's folder \(ENOTDIR\): set HWL_HOME to a folder this user can create and write\n$/);
    expect(r.code).toBe(2);
  });

  it('a DATABASE_URL password given as ?password= (libpq form) is not printed', async () => {
    const r = await run({ DATABASE_URL: 'postgres://app@127.0.0.1:1/hwledger?password=S3cretQ9' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/DATABASE_URL/);
    expect(r.stderr).not.toContain('S3cretQ9');
    expect(r.stderr).toContain('?password=***');
  });
});
