/**
 * `hwledger decode`: reads canonical record bytes as lowercase hex on stdin,
 * one record a line, and prints each record as one JSON line in the spec's
 * JSON form plus chain_id, sequence and sealed_at_ms (recordToJson: u64 as
 * decimal strings, u32/i32 as numbers). Blank lines are skipped. Input is
 * untrusted: the first line that is not lowercase hex or does not decode
 * stops the command with exit 1, naming the line and the error code.
 */
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import { decodeRecord, fromHex, isChainError, recordToJson } from '@hwledger/chain';
import { ExitError } from '../exit-error.js';

/** Decodes hex lines from `input` to JSON lines on `output`; returns the number of records. */
export async function decodeLines(input: Readable, output: Writable): Promise<number> {
  const rl = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let records = 0;
  try {
    for await (const raw of rl) {
      lineNo++;
      const line = raw.trim();
      if (line === '') continue;
      let json: string;
      try {
        json = JSON.stringify(recordToJson(decodeRecord(fromHex(line, 'canonical hex'))));
      } catch (e) {
        if (isChainError(e)) throw new ExitError(1, `line ${lineNo}: ${e.code}: ${e.message}`);
        throw e;
      }
      if (!output.write(`${json}\n`)) await once(output, 'drain');
      records++;
    }
  } finally {
    rl.close();
  }
  return records;
}

export function register(program: Command): void {
  program
    .command('decode')
    .description('Decode canonical record bytes (lowercase hex on stdin, one record a line) to JSON lines')
    .action(async () => {
      if (process.stdin.isTTY) process.stderr.write('hwledger decode: reading lowercase hex records from stdin, one a line (Ctrl-D to end)\n');
      await decodeLines(process.stdin, process.stdout);
    });
}
