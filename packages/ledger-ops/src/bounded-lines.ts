/**
 * Line reading with a length cap, for files an attacker may have written
 * (archive segments, replica segments). node:readline buffers a line whole
 * however long it is: a 1 MB gzip segment that inflates to one newline-free
 * line of hundreds of MB grows memory until V8 throws. Here a line is
 * buffered only up to `maxLineBytes`; one longer than that stops the read
 * with LineTooLongError (code INTEGRITY, naming the file and line; its
 * message starts `line_too_long:` and names the cap). The verifiers that
 * catch it (archive and replica segments) report it as a `malformed_line`
 * failure carrying that message. Line breaks are as readline's with
 * crlfDelay Infinity: `\n`, `\r\n` or a lone `\r`; line numbers count empty
 * lines too (lastLineOfFile splits on the same breaks).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { HwlError } from '@hwledger/core';

/** The longest line read from a segment: the same cap as `verify --file` (docs/wire-format.md). */
export const MAX_SEGMENT_LINE_BYTES = 64 * 1024 * 1024;

export class LineTooLongError extends HwlError {
  /** Names the error kind; verifiers report the failure as `malformed_line` (with this error's message). */
  readonly reason = 'line_too_long';
  constructor(
    readonly file: string,
    /** 1-based line number (undefined when only "the last line" is known). */
    readonly line: number | undefined,
    readonly maxLineBytes: number,
  ) {
    super('INTEGRITY', `line_too_long: ${line !== undefined ? `line ${line}` : 'the last line'} of ${file} is longer than ${maxLineBytes} bytes`);
  }
}

export interface BoundedLine {
  text: string;
  /** 1-based line number. */
  line: number;
}

const LF = 0x0a;
const CR = 0x0d;

function nextBreak(buf: Buffer, from: number): number {
  for (let i = from; i < buf.length; i++) {
    const b = buf[i];
    if (b === LF || b === CR) return i;
  }
  return -1;
}

/**
 * Yields the lines of a byte stream (Buffers or strings), holding at most
 * `maxLineBytes` of an unfinished line. Errors of the source propagate.
 * `file` names the source in LineTooLongError.
 */
export async function* boundedLines(source: AsyncIterable<Buffer | string>, file: string, maxLineBytes: number = MAX_SEGMENT_LINE_BYTES): AsyncGenerator<BoundedLine> {
  let parts: Buffer[] = [];
  let partsLen = 0;
  let line = 0;
  let skipLf = false; // the previous chunk ended with \r: a \n starting this one belongs to it
  const take = (tail: Buffer): string => {
    const text = partsLen === 0 ? tail.toString('utf8') : Buffer.concat([...parts, tail], partsLen + tail.length).toString('utf8');
    parts = [];
    partsLen = 0;
    return text;
  };
  for await (const raw of source) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
    let pos = 0;
    if (skipLf && chunk.length > 0) {
      if (chunk[0] === LF) pos = 1;
      skipLf = false;
    }
    while (pos < chunk.length) {
      const br = nextBreak(chunk, pos);
      const end = br < 0 ? chunk.length : br;
      if (partsLen + (end - pos) > maxLineBytes) throw new LineTooLongError(file, line + 1, maxLineBytes);
      if (br < 0) {
        // Copied: the source may reuse its chunk buffers.
        parts.push(Buffer.from(chunk.subarray(pos)));
        partsLen += chunk.length - pos;
        break;
      }
      line++;
      yield { text: take(chunk.subarray(pos, br)), line };
      pos = br + 1;
      if (chunk[br] === CR) {
        if (pos < chunk.length) {
          if (chunk[pos] === LF) pos++;
        } else skipLf = true;
      }
    }
  }
  if (partsLen > 0) {
    line++;
    yield { text: take(Buffer.alloc(0)), line };
  }
}

/**
 * The last non-empty line of a file, read backwards from its end: at most
 * `maxLineBytes` of it are held, never the whole file. Lines split on `\n`
 * and `\r` as in boundedLines (so `\r\n` and a lone `\r` end a line too, and
 * trailing empty lines of any of those breaks are skipped). Undefined when
 * the file holds no non-empty line.
 */
export function lastLineOfFile(path: string, file: string = path, maxLineBytes: number = MAX_SEGMENT_LINE_BYTES): string | undefined {
  const fd = openSync(path, 'r');
  try {
    let end = fstatSync(fd).size; // bytes [0, end) not yet examined
    const chunkSize = 64 * 1024;
    const buf = Buffer.allocUnsafe(chunkSize);
    const parts: Buffer[] = []; // of the last line, in reverse order
    let len = 0;
    let inLine = false;
    while (end > 0) {
      const n = Math.min(chunkSize, end);
      const start = end - n;
      const got = readSync(fd, buf, 0, n, start);
      if (got !== n) throw new HwlError('UNAVAILABLE', `short read of ${file}`);
      let stop = n; // exclusive end, in buf, of the part of the line in this chunk
      let i = n - 1;
      if (!inLine) {
        while (i >= 0 && (buf[i] === LF || buf[i] === CR)) i--; // trailing (empty) lines
        if (i < 0) {
          end = start;
          continue;
        }
        inLine = true;
        stop = i + 1;
      }
      while (i >= 0 && buf[i] !== LF && buf[i] !== CR) i--;
      const piece = buf.subarray(i + 1, stop);
      if (len + piece.length > maxLineBytes) throw new LineTooLongError(file, undefined, maxLineBytes);
      parts.push(Buffer.from(piece));
      len += piece.length;
      if (i >= 0) break;
      end = start;
    }
    if (!inLine) return undefined;
    return Buffer.concat(parts.reverse(), len).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
