/**
 * Line reading with a cap (archive and replica segments): the same lines and
 * line numbers as node:readline (crlfDelay Infinity) for any text and any
 * chunking, a line longer than the cap stops the read with
 * LineTooLongError (INTEGRITY, `line_too_long`, file and line) without the
 * line being buffered (an endless generated stream ends), and the last line
 * of a file is read from its end, capped too, with the same line breaks.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { boundedLines, lastLineOfFile, LineTooLongError, MAX_SEGMENT_LINE_BYTES } from '../src/bounded-lines.js';

const work = mkdtempSync(join(tmpdir(), 'hwl-lines-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function collect(chunks: Buffer[], cap = MAX_SEGMENT_LINE_BYTES): Promise<{ text: string; line: number }[]> {
  const out: { text: string; line: number }[] = [];
  for await (const l of boundedLines(Readable.from(chunks), 'f', cap)) out.push(l);
  return out;
}

async function viaReadline(text: string): Promise<string[]> {
  const out: string[] = [];
  for await (const l of createInterface({ input: Readable.from([Buffer.from(text, 'utf8')]), crlfDelay: Infinity })) out.push(l);
  return out;
}

function chunked(buf: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * buf.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of at) {
    out.push(buf.subarray(from, c));
    from = c;
  }
  out.push(buf.subarray(from));
  return out;
}

describe('boundedLines', () => {
  it('yields what readline yields, numbered from 1, for any text and chunking (\\n, \\r\\n, lone \\r, multibyte UTF-8)', async () => {
    const piece = fc.constantFrom('a', 'bc', '{"x":1}', '\n', '\r', '\r\n', '\n\n', 'é', '€', '𝄞', ' ');
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 40 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }), async (parts, cuts) => {
        const text = parts.join('');
        const got = await collect(chunked(Buffer.from(text, 'utf8'), cuts));
        expect(got.map((l) => l.text)).toEqual(await viaReadline(text));
        expect(got.map((l) => l.line)).toEqual(got.map((_, i) => i + 1));
      }),
      { numRuns: 500 },
    );
  });

  it('accepts a line of exactly the cap and refuses one byte more, naming the file and line', async () => {
    expect(await collect([Buffer.from('ok\n12345\nx')], 5)).toEqual([
      { text: 'ok', line: 1 },
      { text: '12345', line: 2 },
      { text: 'x', line: 3 },
    ]);
    const e = await collect([Buffer.from('ok\n123'), Buffer.from('456\n')], 5).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LineTooLongError);
    expect(e).toMatchObject({ code: 'INTEGRITY', reason: 'line_too_long', file: 'f', line: 2, maxLineBytes: 5 });
    expect((e as Error).message).toMatch(/^line_too_long: line 2 of f is longer than 5 bytes/);
  });

  it('stops an endless newline-free stream at the cap, holding no more than the cap', async () => {
    let produced = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      for (;;) {
        produced += chunk.length;
        yield chunk;
      }
    }
    const cap = 1024 * 1024;
    const e = await (async () => {
      for await (const _ of boundedLines(endless(), 'bomb.jsonl.gz', cap)) void _;
    })().catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'INTEGRITY', reason: 'line_too_long', file: 'bomb.jsonl.gz', line: 1 });
    // It read only up to the chunk that crossed the cap.
    expect(produced).toBeLessThanOrEqual(cap + 64 * 1024);
  });
});

describe('lastLineOfFile', () => {
  const file = (name: string, content: string | Buffer): string => {
    const p = join(work, name);
    writeFileSync(p, content);
    return p;
  };

  it('returns the last non-empty line, across read chunks, or undefined', () => {
    expect(lastLineOfFile(file('a', 'one\ntwo\nthree\n\n\n'))).toBe('three');
    expect(lastLineOfFile(file('b', 'one\ntwo'))).toBe('two');
    expect(lastLineOfFile(file('c', 'only'))).toBe('only');
    expect(lastLineOfFile(file('d', '\n\n'))).toBeUndefined();
    expect(lastLineOfFile(file('e', ''))).toBeUndefined();
    const long = 'é'.repeat(100_000); // 200,000 bytes: spans read chunks
    expect(lastLineOfFile(file('f', `first\n${long}\n${'\n'.repeat(70_000)}`))).toBe(long);
  });

  it('splits on \\r as boundedLines does: trailing \\r\\n / lone \\r are empty lines, not the last line', async () => {
    // A segment ending `}\n\r\n` verifies (boundedLines yields an empty line after it, skipped).
    expect(lastLineOfFile(file('h', '{"a":1}\n{"b":2}\n\r\n'))).toBe('{"b":2}');
    expect(lastLineOfFile(file('i', '{"a":1}\r\n{"b":2}\r\n'))).toBe('{"b":2}');
    expect(lastLineOfFile(file('j', 'one\rtwo\r'))).toBe('two');
    expect(lastLineOfFile(file('k', '\r\n\r\r'))).toBeUndefined();
    // The last non-empty line readline (so boundedLines) yields, for any text.
    const piece = fc.constantFrom('a', 'bc', '\n', '\r', '\r\n', '\n\r\n', 'é', ' ');
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 30 }), async (parts) => {
        const text = parts.join('');
        const lines = (await viaReadline(text)).filter((l) => l !== '');
        expect(lastLineOfFile(file('p', text))).toBe(lines[lines.length - 1]);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a last line longer than the cap (without reading the rest of the file)', () => {
    const p = file('g', `${'x'.repeat(50)}\n${'y'.repeat(11)}\n`);
    expect(lastLineOfFile(p, 'seg', 11)).toBe('y'.repeat(11));
    expect(() => lastLineOfFile(p, 'seg', 10)).toThrow(LineTooLongError);
    expect(() => lastLineOfFile(p, 'seg', 10)).toThrow(/^line_too_long: the last line of seg is longer than 10 bytes$/);
  });
});
