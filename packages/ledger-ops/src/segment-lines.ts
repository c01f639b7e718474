/**
 * Feeds a segment file's lines to a SegmentVerifier (archive and git replica
 * segments alike). Lines are read capped (bounded-lines.ts: a small gzip
 * segment can inflate to one huge line, which would otherwise be buffered
 * whole); a line over the cap fails the verifier as `malformed_line`. Any
 * other error of the source (a read or decompression error) is returned, with
 * the number of the last line read, for the caller to classify.
 */
import { boundedLines, LineTooLongError } from './bounded-lines.js';
import type { SegmentVerifier } from './segment-verifier.js';

export async function feedSegmentLines(v: SegmentVerifier, source: AsyncIterable<Buffer | string>, file: string, maxLineBytes: number): Promise<{ lastLine: number; error?: Error }> {
  let lastLine = 0;
  try {
    for await (const { text, line } of boundedLines(source, file, maxLineBytes)) {
      lastLine = line;
      if (text === '') continue;
      if (v.pushLine(text, file, line)) break;
    }
  } catch (e) {
    if (!(e instanceof LineTooLongError)) return { lastLine, error: e instanceof Error ? e : new Error(String(e)) };
    v.fail(v.expected, 'malformed_line', `${e.message} (the export format has no line that long)`, file, e.line);
  }
  return { lastLine };
}
