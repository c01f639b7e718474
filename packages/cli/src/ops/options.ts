/** Small helpers shared by the proof/replication/archive commands (issue 6). */
import { parseU64 } from '@hwledger/chain';
import { ExitError } from '../exit-error.js';

/** commander collector for repeatable options (`--key A --key B`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function intOption(name: string, min: number, max?: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new ExitError(2, `${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    if (max !== undefined && n > max) throw new ExitError(2, `${name} must be an integer <= ${max}, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function seqOption(name: string): (v: string) => bigint {
  return (v) => {
    try {
      return parseU64(v, name);
    } catch {
      throw new ExitError(2, `${name} must be a sequence number, got ${JSON.stringify(v)}`);
    }
  };
}

/** Where `prove` keeps its Merkle tree stores (flag, HWL_TREE_DIR, .hwledger/merkle). */
export function resolveTreeDir(flag?: string): string {
  return flag ?? process.env['HWL_TREE_DIR'] ?? '.hwledger/merkle';
}

export function describeFailure(f: { sequence: bigint; reason: string; message: string; file?: string | undefined; line?: number | undefined }): string {
  const where = f.file ? ` (${f.file}${f.line !== undefined ? `:${f.line}` : ''})` : '';
  return `sequence ${f.sequence}: ${f.reason}: ${f.message}${where}`;
}
