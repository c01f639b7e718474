/**
 * `hwledger verify --file` (built CLI; run `npx tsc -b packages/cli` first):
 * intact exports pass with a one-line summary; a flipped byte, a removed,
 * reordered or duplicated line, a foreign chain, a bad JSON line and a wrong
 * anchor are named at the first bad sequence; an export that starts after 1
 * needs --anchor; memory stays bounded on a large export.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { genesisAnchor, toHex, verifyEntriesSync, parseExportLine } from '@hwledger/chain';
import { runCli } from '@hwledger/testkit';
import { loadVectors, vectorExportLines, writeGeneratedExport, type GeneratedExport } from './support/export-file.js';
import { runVerify } from '../src/commands/verify-run.js';
import { verifyFile } from '../src/commands/verify-file.js';

const COUNT = 5000;

describe('hwledger verify --file', () => {
  let dir: string;
  let big: string;
  let gen: GeneratedExport;
  let lines: string[];
  const file = (name: string, content: string[] | string): string => {
    const p = join(dir, name);
    writeFileSync(p, Array.isArray(content) ? `${content.join('\n')}\n` : content);
    return p;
  };
  const verify = (...args: string[]): ReturnType<typeof runCli> => runCli(['verify', ...args]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hwl-verify-'));
    big = join(dir, 'big.jsonl');
    gen = await writeGeneratedExport(big, COUNT);
    lines = readFileSync(big, 'utf8').trimEnd().split('\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes the export of the spec vectors, naming records, head sequence and head hash', async () => {
    const vectors = loadVectors();
    const r = await verify('--file', file('vectors.jsonl', vectorExportLines()));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const last = vectors.records[vectors.records.length - 1]!;
    expect(r.stdout).toBe(`verified 7 records of chain eu-west-1 (${join(dir, 'vectors.jsonl')}, from genesis): head sequence 7, head hash ${last.hash}\n`);
  });

  it(`passes a generated ${COUNT}-record export (no progress bar when stderr is not a TTY)`, async () => {
    const r = await verify('--file', big);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^verified ${COUNT} records of chain eu-west-1 .*: head sequence ${COUNT}, head hash ${toHex(gen.head)}\\n$`));
  });

  it("a flipped byte in any part of a record's canonical hex is named at its sequence", async () => {
    for (const [seq, at] of [
      [1, 3], // chain_id length
      [777, 40], // sequence
      [2500, -3], // payload, last bytes
      [COUNT, 200], // last record, inside the strings
    ] as const) {
      const tampered = lines.slice();
      const o = JSON.parse(tampered[seq - 1]!) as { canonical: string };
      const i = at < 0 ? o.canonical.length + at : at;
      o.canonical = o.canonical.slice(0, i) + (o.canonical[i] === '0' ? '1' : '0') + o.canonical.slice(i + 1);
      tampered[seq - 1] = JSON.stringify(o);
      const r = await verify('--file', file(`flip-${seq}.jsonl`, tampered));
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toMatch(
        new RegExp(`^FAILED at sequence ${seq}: (hash_mismatch|undecodable|wrong_chain|envelope_mismatch): .*flip-${seq}\\.jsonl:${seq}\\)\\n$`),
      );
    }
  });

  it('a removed line is a gap at its sequence', async () => {
    const r = await verify(
      '--file',
      file(
        'removed.jsonl',
        lines.filter((_, i) => i !== 1233),
      ),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAILED at sequence 1234: gap: expected sequence 1234, found 1235/);
  });

  it('a reordered line is named where the order breaks', async () => {
    const swapped = lines.slice();
    [swapped[99], swapped[100]] = [swapped[100]!, swapped[99]!];
    const r = await verify('--file', file('swapped.jsonl', swapped));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAILED at sequence 100: gap: expected sequence 100, found 101/);
    const moved = [...lines.slice(0, 3000), lines[41]!, ...lines.slice(3000)];
    const r2 = await verify('--file', file('moved.jsonl', moved));
    expect(r2.stdout).toMatch(/^FAILED at sequence 3001: out_of_order: /);
  });

  it('a duplicated line is named where the repeat sits', async () => {
    const r = await verify('--file', file('dup.jsonl', [...lines.slice(0, 10), lines[9]!, ...lines.slice(10)]));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAILED at sequence 11: duplicate: sequence 10 appears again where 11 was expected \(dup\.jsonl:11\)\n$/);
  });

  it('a changed hash member is refused; prev_hash, record and extra members are ignored (spec: for people)', async () => {
    const edit = (k: number, f: (o: Record<string, unknown>) => void): string[] => {
      const t = lines.slice();
      const o = JSON.parse(t[k]!) as Record<string, unknown>;
      f(o);
      t[k] = JSON.stringify(o);
      return t;
    };
    const h = await verify(
      '--file',
      file(
        'hash.jsonl',
        edit(49, (o) => (o['hash'] = toHex(gen.hashes[0]!))),
      ),
    );
    expect(h.stdout).toMatch(/^FAILED at sequence 50: hash_mismatch: /);
    const p = await verify(
      '--file',
      file(
        'prev.jsonl',
        edit(49, (o) => (o['prev_hash'] = toHex(gen.hashes[0]!))),
      ),
    );
    // The spec: verifiers ignore prev_hash and recompute everything from canonical.
    expect(p.code, p.stdout).toBe(0);
    const junk = await verify(
      '--file',
      file(
        'prev-junk.jsonl',
        edit(49, (o) => (o['prev_hash'] = 'not hex at all')),
      ),
    );
    expect(junk.code, junk.stdout).toBe(0);
    const extra = await verify(
      '--file',
      file(
        'extra.jsonl',
        edit(49, (o) => ((o['note'] = 'for people'), delete o['record'])),
      ),
    );
    expect(extra.code).toBe(0);
  });

  it('a line that is not JSON (or lacks a member) exits 1 naming the line', async () => {
    const t = lines.slice(0, 20);
    t[11] = '{"chain_id": "eu-west-1", "sequence": "12", oops';
    const r = await verify('--file', file('badjson.jsonl', t));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAILED at sequence 12: undecodable: not an export record: INVALID_JSON: line 12: not valid JSON \(badjson\.jsonl:12\)\n$/);
    const missing = lines.slice(0, 20);
    missing[4] = JSON.stringify({ chain_id: 'eu-west-1', sequence: '5', hash: toHex(gen.hashes[4]!) });
    const m = await verify('--file', file('missing.jsonl', missing));
    expect(m.stdout).toMatch(/^FAILED at sequence 5: undecodable: .*canonical.*\(missing\.jsonl:5\)/);
    const first = await verify('--file', file('first.jsonl', ['not json', ...lines.slice(1, 5)]));
    expect(first.code).toBe(1);
    expect(first.stdout).toMatch(/^FAILED at sequence 1: undecodable: .*\(first\.jsonl:1\)/);
  });

  it('blank lines (and CRLF line ends) are skipped', async () => {
    const r = await verify('--file', file('blank.jsonl', `\n${lines.slice(0, 5).join('\r\n\r\n')}\r\n\n`));
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^verified 5 records/);
  });

  it('anchor mode: a partial export verifies from --anchor SEQ:HASH, and is refused without one', async () => {
    const part = file('part.jsonl', lines.slice(2500));
    const anchor = `2500:${toHex(gen.hashes[2499]!)}`;
    const ok = await verify('--file', part, '--anchor', anchor);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(
      new RegExp(`^verified 2500 records of chain eu-west-1 \\(.*, from anchor ${anchor}\\): head sequence ${COUNT}, head hash ${toHex(gen.head)}\\n$`),
    );

    const none = await verify('--file', part);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/starts at sequence 2501, not 1; verifying it needs the anchor of sequence 2500: pass --anchor 2500:<hash of record 2500>/);

    const wrong = await verify('--file', part, '--anchor', `2500:${toHex(gen.hashes[2498]!)}`);
    expect(wrong.code).toBe(1);
    // prev_hash is not read (spec): the wrong anchor shows as the first record's hash not recomputing.
    expect(wrong.stdout).toMatch(/^FAILED at sequence 2501: hash_mismatch: .* \(or the anchor is not the hash of record 2500\)/);

    const garbled = await verify('--file', file('part-garbled.jsonl', ['{', ...lines.slice(2501)]), '--anchor', anchor);
    expect(garbled.stdout).toMatch(/^FAILED at sequence 2501: undecodable: not an export record: INVALID_JSON: .*\(part-garbled\.jsonl:1\)\n$/);

    const misplaced = await verify('--file', part, '--anchor', `2400:${toHex(gen.hashes[2399]!)}`);
    expect(misplaced.stdout).toMatch(/^FAILED at sequence 2401: gap: /);

    // The genesis anchor written out is accepted too.
    const g = await verify('--file', big, '--anchor', `0:${toHex(genesisAnchor('eu-west-1').hash)}`);
    expect(g.code).toBe(0);
  });

  it('--chain names the chain the export must belong to', async () => {
    const r = await verify('--file', big, '--chain', 'us-east-2');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAILED at sequence 1: wrong_chain: record 1 belongs to chain "eu-west-1", not "us-east-2"/);
  });

  it('usage and I/O errors exit 2; an empty export exits 1 unless its chain is named', async () => {
    expect((await verify('--file', join(dir, 'nope.jsonl'))).code).toBe(2);
    const badAnchor = await verify('--file', big, '--anchor', '12:ABCD');
    expect(badAnchor.code).toBe(2);
    expect(badAnchor.stderr).toMatch(/--anchor must be SEQ:HASH/);
    const empty = await verify('--file', file('empty.jsonl', '\n\n'));
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/holds no records \(an export of an empty chain verifies with --chain ID\)/);
    // Named, it is an export of an empty chain: 0 records from genesis, as live verify says of one.
    const named = await verify('--file', join(dir, 'empty.jsonl'), '--chain', 'eu-west-1');
    expect(named.code).toBe(0);
    expect(named.stdout).toMatch(/^verified 0 records of chain eu-west-1 \(.*, from genesis\): head sequence 0, /);
    expect((await verify()).code).toBe(2);
  });

  it('streams: a large export verifies with a heap far smaller than the file', async () => {
    // ~870 bytes a line: 40,000 lines are ~35 MB, which (as one string plus
    // its lines) does not fit the 48 MiB old space allowed; streamed, it does.
    const n = Math.round(40_000 * Number(process.env['HWL_TEST_SCALE'] ?? '1'));
    const path = join(dir, 'large.jsonl');
    const g = await writeGeneratedExport(path, n, 'eu-west-1', false);
    const r = await runCli(['verify', '--file', path], { env: { NODE_OPTIONS: '--max-old-space-size=48' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^verified ${n} records .*head hash ${toHex(g.head)}\\n$`));
    rmSync(path);
  });

  it('a line that grows past the line limit stops the read (no unbounded buffering)', async () => {
    const o = JSON.parse(lines[2]!) as Record<string, unknown>;
    o['pad'] = 'x'.repeat(300_000);
    const path = file('long-line.jsonl', [lines[0]!, lines[1]!, JSON.stringify(o), lines[3]!]);
    const out = new PassThrough();
    let verdict = '';
    out.on('data', (d: Buffer) => (verdict += d.toString()));
    await expect(verifyFile({ file: path, maxLineBytes: 100_000, run: { out } })).rejects.toMatchObject({ exitCode: 1 });
    expect(verdict).toMatch(/^FAILED at sequence 3: undecodable: a line longer than 100000 bytes \(long-line\.jsonl:3\)\n$/);
    // Under the limit the same file verifies.
    await expect(verifyFile({ file: path, maxLineBytes: 1_000_000, run: { out } })).resolves.toMatchObject({ ok: true, verified: 4 });
  });

  it('draws a progress bar (file bytes) on a TTY stream, and the verdict on stdout', async () => {
    const exportLines = lines.slice(0, 2000).map((l) => parseExportLine(l));
    expect(verifyEntriesSync(exportLines, genesisAnchor('eu-west-1')).ok).toBe(true);
    const bar = new PassThrough();
    let drawn = '';
    bar.on('data', (d: Buffer) => (drawn += d.toString()));
    const out = new PassThrough();
    let verdict = '';
    out.on('data', (d: Buffer) => (verdict += d.toString()));
    let done = 0;
    async function* slow(): AsyncGenerator<(typeof exportLines)[number]> {
      for (const e of exportLines) {
        done += 100;
        if (done % 50_000 === 0) await new Promise((res) => setTimeout(res, 60));
        yield e;
      }
    }
    await runVerify(slow(), genesisAnchor('eu-west-1'), {
      source: 'test',
      progress: { total: 200_000, done: () => done },
      progressStream: bar,
      forceProgress: true,
      out,
    });
    expect(drawn).toMatch(/verifying test \[.*\] \d+% \| \d+ records/);
    expect(verdict).toMatch(/^verified 2000 records of chain eu-west-1 \(test, from genesis\)/);
  });
});
