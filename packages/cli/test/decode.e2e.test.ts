/**
 * `hwledger decode` (built CLI; run `npx tsc -b packages/cli` first): every
 * spec vector's canonical hex decodes to exactly the vector's fields, one
 * JSON line each; bad input exits 1 naming the line and the error code.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { CLI_BIN, runCli } from '@hwledger/testkit';
import { loadVectors, vectorJson } from './support/export-file.js';

const vectors = loadVectors();
const hexLines = vectors.records.map((v) => v.canonical_hex);

describe('hwledger decode', () => {
  it('prints every vector as one JSON line with exactly its fields (u64 as decimal strings)', async () => {
    const r = await runCli(['decode'], { input: `${hexLines.join('\n')}\n` });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(vectors.records.length);
    lines.forEach((line, i) => {
      expect(JSON.parse(line)).toStrictEqual(vectorJson(vectors.records[i]!));
    });
    // u64 past 2^53 printed exactly, as a string.
    expect(r.stdout).toContain('"compute_ms":"9007199254740993"');
    expect(r.stdout).toContain('"power_mw":4294967295');
    expect(r.stdout).toContain('"temperature_mc":-5250');
  });

  it('skips blank lines and accepts CRLF and surrounding spaces', async () => {
    const input = `\n${hexLines[0]}\r\n   \n  ${hexLines[1]}  \n\n`;
    const r = await runCli(['decode'], { input });
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toStrictEqual([vectorJson(vectors.records[0]!), vectorJson(vectors.records[1]!)]);
  });

  it('empty input prints nothing and succeeds', async () => {
    const r = await runCli(['decode'], { input: '' });
    expect(r).toMatchObject({ code: 0, stdout: '' });
  });

  const bad: [string, string, RegExp][] = [
    ['not hex', 'zz', /INVALID_HEX/],
    ['uppercase hex', hexLines[2]!.toUpperCase(), /INVALID_HEX/],
    ['odd number of digits', hexLines[2]!.slice(1), /INVALID_HEX/],
    ['truncated record', hexLines[2]!.slice(0, -2), /TRUNCATED/],
    ['trailing bytes', `${hexLines[2]}00`, /TRAILING_BYTES/],
    ['unknown format version', `02${hexLines[2]!.slice(2)}`, /UNSUPPORTED_VERSION/],
    ['invalid UTF-8', hexLines[2]!.replace('65752d776573742d31', 'ff752d776573742d31'), /INVALID_UTF8/],
  ];
  it.each(bad)('%s on line 3: exit 1 naming line 3 and the code, after printing the good lines', async (_what, line, code) => {
    const r = await runCli(['decode'], { input: `${hexLines[0]}\n${hexLines[1]}\n${line}\n${hexLines[3]}\n` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^hwledger: line 3: /);
    expect(r.stderr).toMatch(code);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(2);
  });

  it('a reader that closes the pipe early (decode | head) ends it quietly with 141, as SIGPIPE would', async () => {
    // Before: "hwledger: write EPIPE" twice on stderr and exit 2.
    const p = spawn(process.execPath, [CLI_BIN, 'decode'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
    p.stdout.once('data', () => p.stdout.destroy()); // the reader goes away after the first chunk
    const lines = `${hexLines.join('\n')}\n`.repeat(20_000);
    p.stdin.on('error', () => undefined); // the CLI may be gone before all of it is written
    p.stdin.end(lines);
    expect(await exited).toBe(141);
    expect(stderr).toBe('');
  }, 30_000);
});
