/**
 * File mode of `hwledger verify --file EXPORT.jsonl [--anchor SEQ:HASH]
 * [--chain ID]` (spec: "Export (JSONL)"): verifies an export offline,
 * streaming it line by line, so memory stays constant however large the file. Every hash is recomputed from `canonical`; the `hash`,
 * `prev_hash`, `sequence` and `chain_id` members are claims that must agree.
 *
 * An export that starts after sequence 1 can only be verified from the
 * anchor of the sequence just before it (a trusted `SEQ:HASH`, e.g. from a
 * signed checkpoint): without --anchor it is refused, never trusted.
 * Threat: an oversized line (a hostile or corrupt file) would make a line
 * reader buffer it whole; lines are read with ledger-ops's boundedLines (as
 * archive and replica segments are), which stops at MAX_LINE_BYTES.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { genesisAnchor, hashFromHex, isChainError, parseExportLine, parseU64, type Anchor, type ExportEntry, type VerifySuccess } from '@hwledger/chain';
import { boundedLines, LineTooLongError, MAX_SEGMENT_LINE_BYTES } from '@hwledger/ledger-ops';
import { ExitError } from '../exit-error.js';
import { runVerify, VerifyInputError, type LocatedInput, type RunVerifyOptions } from './verify-run.js';

/** The longest export line read (a record's canonical hex is twice its size; policy caps strings at 4 KiB): the segments' cap. */
export const MAX_LINE_BYTES = MAX_SEGMENT_LINE_BYTES;

export interface VerifyFileOptions {
  file: string;
  /** `SEQ:HASH` text, as given on the command line. */
  anchor?: string;
  chain?: string;
  /** Longest line accepted (default MAX_LINE_BYTES). */
  maxLineBytes?: number;
  /** Passed through to runVerify (tests: progress stream, output). */
  run?: Partial<RunVerifyOptions>;
}

/** Parses `SEQ:HASH` (decimal sequence, 64 lowercase hex digits). */
export function parseAnchorOption(text: string, chainId: string): Anchor {
  const m = /^([0-9]+):([0-9a-f]{64})$/.exec(text.trim());
  if (!m) throw new ExitError(2, `--anchor must be SEQ:HASH (a decimal sequence, a colon, 64 lowercase hex digits), got ${JSON.stringify(text)}`);
  try {
    return { chainId, sequence: parseU64(m[1], '--anchor sequence'), hash: hashFromHex(m[2]!, '--anchor hash') };
  } catch (e) {
    throw new ExitError(2, `--anchor: ${e instanceof Error ? e.message : String(e)}`);
  }
}

interface ExportReader {
  entries: AsyncGenerator<LocatedInput & ExportEntry>;
  bytesRead(): number;
  close(): void;
}

/**
 * Streams the export's records; throws VerifyInputError for a line that is
 * not one, or one longer than `maxLineBytes` (read through ledger-ops's
 * boundedLines: an unfinished line is buffered up to the cap, never whole).
 */
function readExport(file: string, maxLineBytes: number): ExportReader {
  const name = basename(file);
  const input = createReadStream(file);
  async function* entries(): AsyncGenerator<LocatedInput & ExportEntry> {
    try {
      for await (const { text, line } of boundedLines(input, name, maxLineBytes)) {
        if (text.trim() === '') continue;
        let entry: ExportEntry;
        try {
          entry = parseExportLine(text, line);
        } catch (e) {
          if (isChainError(e)) throw new VerifyInputError(`not an export record: ${e.code}: ${e.message}`, `${name}:${line}`);
          throw e;
        }
        yield { ...entry, where: `${name}:${line}` };
      }
    } catch (e) {
      if (e instanceof LineTooLongError) throw new VerifyInputError(`a line longer than ${maxLineBytes} bytes`, `${name}:${e.line ?? '?'}`);
      throw e;
    }
  }
  return { entries: entries(), bytesRead: () => input.bytesRead, close: () => input.destroy() };
}

export async function verifyFile(o: VerifyFileOptions): Promise<VerifySuccess> {
  let size: number;
  try {
    const st = await stat(o.file);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (e) {
    throw new ExitError(2, `cannot read export ${o.file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  // A malformed --anchor is a usage error, found before reading anything.
  const given = o.anchor !== undefined ? parseAnchorOption(o.anchor, '') : undefined;
  const reader = readExport(o.file, o.maxLineBytes ?? MAX_LINE_BYTES);
  const out = o.run?.out ?? process.stdout;
  try {
    // The first record fixes the chain (unless --chain) and tells whether an anchor is needed.
    let first: IteratorResult<LocatedInput & ExportEntry>;
    try {
      first = await reader.entries.next();
    } catch (e) {
      if (!(e instanceof VerifyInputError)) throw e;
      out.write(`FAILED at sequence ${(given?.sequence ?? 0n) + 1n}: undecodable: ${e.message}${e.where ? ` (${e.where})` : ''}\n`);
      throw new ExitError(1, '');
    }
    if (first.done) {
      // An export of an empty chain (or from past its head) holds nothing. Which
      // chain it is, the file cannot say: with --chain it verifies as 0 records
      // from the anchor, as live verify of an empty chain does; without, it is
      // refused (exit 1) rather than called verified for a chain nobody named.
      if (o.chain === undefined) throw new ExitError(1, `${o.file} holds no records (an export of an empty chain verifies with --chain ID)`);
      const empty = given ? { ...given, chainId: o.chain } : genesisAnchor(o.chain);
      return await runVerify((async function* (): AsyncGenerator<LocatedInput> {})(), empty, {
        source: o.file,
        progress: { total: size, done: reader.bytesRead },
        ...o.run,
      });
    }
    const head = first.value;
    const chainId = o.chain ?? head.chainId;
    const anchor = given ? { ...given, chainId } : genesisAnchor(chainId);
    if (!given && head.sequence > 1n) {
      out.write(
        `FAILED at sequence 1: gap: ${o.file} starts at sequence ${head.sequence}, not 1; ` +
          `verifying it needs the anchor of sequence ${head.sequence - 1n}: pass --anchor ${head.sequence - 1n}:<hash of record ${head.sequence - 1n}> from a trusted source (a signed checkpoint)\n`,
      );
      throw new ExitError(1, '');
    }
    async function* all(): AsyncGenerator<LocatedInput> {
      yield head;
      yield* reader.entries;
    }
    return await runVerify(all(), anchor, {
      source: o.file,
      progress: { total: size, done: reader.bytesRead },
      ...o.run,
    });
  } finally {
    reader.close();
  }
}
