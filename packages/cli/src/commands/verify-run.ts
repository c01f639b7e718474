/**
 * The shared core of `hwledger verify` for inputs that are a sequence of
 * records (an export file today, the live chain stream later): pushes every
 * entry through the streaming ChainVerifier (constant memory: one hash and
 * one sequence are kept), draws a progress bar on stderr when it is a TTY,
 * and prints one verdict line on stdout:
 *
 *   verified <n> records of chain <id> (<source>, from <anchor>): head sequence <seq>, head hash <hex>
 *   FAILED at sequence <seq>: <reason>: <message> (<where>)
 *
 * A failure throws ExitError(1) after printing. Entries are untrusted: every
 * hash is recomputed from the canonical bytes (spec: "Hash chain").
 */
import { SingleBar } from 'cli-progress';
import { ChainVerifier, isChainError, toHex, type Anchor, type VerifyFailure, type VerifyInput, type VerifySuccess } from '@hwledger/chain';
import { ExitError } from '../exit-error.js';

/** An entry to verify, with where it came from (`export.jsonl:42`) for the failure line. */
export type LocatedInput = VerifyInput & { where?: string };

/**
 * Thrown by an entry source for input that is not a record at all (a line
 * that is not JSON, a missing member): reported as `undecodable` at the
 * sequence the verifier expected next.
 */
export class VerifyInputError extends Error {
  constructor(
    message: string,
    readonly where?: string,
    /** The failure this input is, when it is more than undecodable (a hash claim that is not a hash: hash_mismatch, broken_link). */
    readonly failure?: VerifyFailure,
  ) {
    super(message);
  }
}

export interface VerifyProgress {
  /** Total units: file bytes, or records up to the head. */
  total: number;
  /** Units done so far; read at each redraw. */
  done(): number;
}

export interface RunVerifyOptions {
  /** What is verified, for the summary: a file name, `stream HWL_CHAIN_x`. */
  source: string;
  progress?: VerifyProgress;
  /** Where the bar is drawn (default process.stderr); drawn only when it is a TTY unless `forceProgress`. */
  progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
  forceProgress?: boolean;
  /** Where the verdict line goes (default process.stdout). */
  out?: NodeJS.WritableStream;
  /** Check the end against a trusted head (a checkpoint); anchor_mismatch otherwise. */
  expectHead?: Anchor;
}

/** Redraw the bar every this many entries (cli-progress also throttles to its fps). */
const PROGRESS_EVERY = 512;

export function describeAnchor(anchor: Anchor): string {
  return anchor.sequence === 0n ? 'genesis' : `anchor ${anchor.sequence}:${toHex(anchor.hash)}`;
}

export function formatVerifySuccess(r: VerifySuccess, anchor: Anchor, source: string): string {
  return `verified ${r.verified} records of chain ${anchor.chainId} (${source}, from ${describeAnchor(anchor)}): head sequence ${r.head.sequence}, head hash ${toHex(r.head.hash)}`;
}

export function formatVerifyFailure(f: VerifyFailure, where?: string): string {
  return `FAILED at sequence ${f.sequence}: ${f.reason}: ${f.message}${where ? ` (${where})` : ''}`;
}

function startBar(opts: RunVerifyOptions): SingleBar | undefined {
  const stream = opts.progressStream ?? process.stderr;
  if (!opts.progress || !(opts.forceProgress || stream.isTTY === true)) return undefined;
  const bar = new SingleBar({
    stream,
    format: `verifying ${opts.source} [{bar}] {percentage}% | {records} records | ETA {eta_formatted}`,
    hideCursor: true,
    clearOnComplete: true,
    noTTYOutput: opts.forceProgress === true,
    etaBuffer: 50,
  });
  bar.start(Math.max(opts.progress.total, 1), 0, { records: 0 });
  return bar;
}

/**
 * Verifies `entries` from `anchor`. Prints the verdict; returns the success,
 * or throws ExitError(1) after printing the first failure.
 */
export async function runVerify(entries: AsyncIterable<LocatedInput> | Iterable<LocatedInput>, anchor: Anchor, opts: RunVerifyOptions): Promise<VerifySuccess> {
  const out = opts.out ?? process.stdout;
  const v = new ChainVerifier(anchor);
  const bar = startBar(opts);
  let failure: VerifyFailure | undefined;
  let where: string | undefined;
  try {
    for await (const e of entries) {
      failure = v.push(e);
      if (failure) {
        where = e.where;
        break;
      }
      if (bar && v.verified % PROGRESS_EVERY === 0) bar.update(opts.progress!.done(), { records: v.verified });
    }
  } catch (e) {
    // Input that is not a record at all: the chain breaks where it sits.
    if (!(e instanceof VerifyInputError) && !isChainError(e)) throw e;
    const code = isChainError(e) ? `${e.code}: ` : '';
    failure =
      e instanceof VerifyInputError && e.failure
        ? { ...e.failure, verified: v.verified }
        : { ok: false, sequence: v.expected, reason: 'undecodable', message: `${code}${e.message}`, verified: v.verified };
    where = e instanceof VerifyInputError ? e.where : undefined;
  } finally {
    if (bar) {
      bar.update(failure ? opts.progress!.done() : opts.progress!.total, { records: v.verified });
      bar.stop();
    }
  }
  if (!failure && opts.expectHead) failure = v.expectHead(opts.expectHead);
  const result = failure ?? v.result();
  if (!result.ok) {
    out.write(`${formatVerifyFailure(result, where)}\n`);
    throw new ExitError(1, '');
  }
  out.write(`${formatVerifySuccess(result, anchor, opts.source)}\n`);
  return result;
}
