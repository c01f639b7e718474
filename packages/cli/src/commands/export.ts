/**
 * `hwledger export --out FILE.jsonl [--from SEQ]`: writes the chain in the
 * spec's export format (spec: "Export (JSONL)"), one record a line with
 * chain_id, sequence, canonical, hash, prev_hash and the decoded record.
 * Hashes are recomputed from the canonical bytes, starting from genesis
 * (--from 1) or from the Hwl-Prev-Hash claim of the first exported record;
 * a verifier trusts neither and checks the export against its own anchor.
 * The file is written to a temporary file of its own beside it
 * (FILE.<pid>.<random>.tmp, created exclusively: never one that exists, so
 * neither a user's FILE.tmp nor a concurrent export's file is overwritten),
 * fsynced and renamed over FILE when complete (then its directory is
 * fsynced), so the final name never holds a cut file; an interrupted run
 * (SIGINT, SIGTERM, SIGHUP) removes it before it exits. An existing FILE is
 * replaced, as by `>`; two exports to one FILE at once each leave a whole
 * export there, the one renamed last.
 *
 * Threat: records purged from the chain stream (purge is allowed on chain
 * streams). An export that silently started later than --from, or stopped
 * before the head, would look like the whole chain; so the export covers
 * --from..head contiguously or fails (INTEGRITY, exit 1, no file). The only
 * empty export is one with nothing to cover: --from is just past the head
 * (a chain that never sealed anything, exported from 1). An output that
 * cannot be written (no such directory, a directory, a full disk) is one
 * line and exit 2, like verify's unreadable input.
 */
import { createWriteStream, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { decodeRecord, formatExportLine, genesisHash, hashFromHex, parseU64, toHex } from '@hwledger/chain';
import { closeNats, connectNats, HEADERS, HwlError, resolveChainId, resolveNatsUrl, streams } from '@hwledger/core';
import { chainStreamExtent, readChain } from '@hwledger/sequencer';
import { ExitError } from '../exit-error.js';

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/**
 * Until the returned function is called, a SIGINT, SIGTERM or SIGHUP removes
 * `tmp` and ends the process as the signal would have (128 + its number).
 * Without it, each interrupted export (Ctrl-C, `timeout`, a job stopped)
 * left its uniquely named partial file, as large as the chain, for good.
 */
function onSignalRemove(tmp: string): () => void {
  const handlers = Object.entries(SIGNAL_EXIT).map(([sig, code]) => {
    const h = (): void => {
      rmSync(tmp, { force: true });
      process.exit(code);
    };
    process.once(sig as NodeJS.Signals, h);
    return [sig as NodeJS.Signals, h] as const;
  });
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}

export function register(program: Command): void {
  program
    .command('export')
    .description('Write the chain (or the part from --from SEQ) in the spec export format (JSONL)')
    .option('--nats <url>', 'NATS server URL (env NATS_URL)')
    .option('--chain <id>', 'chain id (env HWL_CHAIN_ID)')
    .requiredOption('--out <file>', 'output file (.jsonl)')
    .option('--from <seq>', 'first sequence to export', '1')
    .action(async (o: { nats?: string; chain?: string; out: string; from: string }) => {
      const chainId = resolveChainId(o.chain);
      let from: bigint;
      try {
        from = parseU64(o.from, '--from');
      } catch {
        throw new ExitError(2, `--from must be a sequence number >= 1, got ${JSON.stringify(o.from)}`);
      }
      if (from < 1n) throw new ExitError(2, '--from must be at least 1');
      const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-export', { maxReconnectAttempts: 10 });
      const tmp = `${o.out}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      /** Set once this run may have created tmp (flag 'wx': never a file that was there): only then is it removed on failure. */
      let wroteTmp = false;
      /** While tmp may exist: its removal on SIGINT/SIGTERM/SIGHUP (an interrupted run leaves no partial file). */
      let removeOnSignal: (() => void) | undefined;
      try {
        const extent = await chainStreamExtent(nc, chainId);
        const head = extent.head;
        const stream = streams.chain(chainId);
        if (from > head + 1n) throw new ExitError(1, `--from ${from} is beyond the chain head ${head}`);
        if (from <= head && (extent.lastHeld < from || extent.first > from)) {
          // The first record to export is gone: refuse rather than start later.
          const missingTo = extent.lastHeld >= from ? extent.first - 1n : head;
          const holds = extent.messages === 0 ? 'it holds none' : `it holds ${extent.messages} in ${extent.first}..${extent.lastHeld}`;
          throw new HwlError('INTEGRITY', `chain ${chainId}: records ${from}..${missingTo} are not in stream ${stream} (purged or missing; ${holds}): cannot export from ${from}`);
        }
        let prev: Uint8Array | undefined = from === 1n ? genesisHash(chainId) : undefined;
        let anchorHash = prev;
        let expected = from;
        let n = 0;
        let sourceError: unknown;
        async function* source(): AsyncGenerator<string> {
          try {
            yield* lines();
          } catch (err) {
            sourceError = err; // to tell it from an output error when pipeline rejects
            throw err;
          }
        }
        async function* lines(): AsyncGenerator<string> {
          // Read up to the last record held: a read that waited for a purged head would never end.
          const entries = extent.lastHeld >= from ? readChain(nc, chainId, { fromSeq: from, toSeq: extent.lastHeld }) : [];
          for await (const e of entries) {
            if (e.sequence !== expected) throw new HwlError('INTEGRITY', `chain ${chainId}: expected record ${expected}, the stream holds ${e.sequence} (purged or missing records)`);
            if (prev === undefined) {
              const claim = e.headers?.get(HEADERS.prevHash);
              if (!claim) throw new HwlError('INTEGRITY', `record ${e.sequence} has no Hwl-Prev-Hash header: export from 1 instead`);
              prev = hashFromHex(claim, HEADERS.prevHash);
              anchorHash = prev;
            }
            let record;
            try {
              record = decodeRecord(e.canonical);
            } catch (err) {
              throw new HwlError('INTEGRITY', `record ${e.sequence} does not decode (${errorText(err)}): run hwledger verify`);
            }
            // The line's hash is the chain's own claim for this record (its Hwl-Hash, as
            // sealed), never one recomputed here: recomputing from the stored bytes would
            // turn a record altered after sealing into a self-consistent export that
            // `verify --file` passes, and drop the evidence. The verifier recomputes and
            // compares (spec: "verifiers recompute everything from canonical").
            const hash = claimOf(e.sequence, e.headers?.get(HEADERS.hash), HEADERS.hash);
            const prevClaim = claimOf(e.sequence, e.headers?.get(HEADERS.prevHash), HEADERS.prevHash);
            yield formatExportLine({ record, canonical: e.canonical, hash, prevHash: prevClaim }) + '\n';
            prev = hash;
            expected++;
            n++;
          }
          // The newest records purged (e.g. by subject): the export must reach the head it reports.
          if (expected <= head) {
            throw new HwlError('INTEGRITY', `chain ${chainId}: records ${expected}..${head} are not in stream ${stream} (purged or missing): the export stops at ${expected - 1n}`);
          }
        }
        // pipeline: backpressure, and an output error (ENOENT, EISDIR, ENOSPC) rejects here instead of
        // being an unhandled 'error' event; it also closes the chain read.
        try {
          // flush: fsync before close, so the rename below never exposes unwritten data after a crash.
          // From here the temporary file may exist (its name is this run's own; 'wx' refuses one that
          // was there, EEXIST, which then is not removed).
          wroteTmp = true;
          removeOnSignal = onSignalRemove(tmp);
          await pipeline(source(), createWriteStream(tmp, { encoding: 'utf8', flush: true, flags: 'wx' }));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') wroteTmp = false;
          // The chain read's own error as it is; anything else came from the output.
          if (err === sourceError) throw err;
          throw new ExitError(2, `cannot write export ${o.out}: ${errorText(err)}`);
        }
        try {
          await rename(tmp, o.out);
        } catch (err) {
          throw new ExitError(2, `cannot write export ${o.out}: ${errorText(err)}`);
        }
        // The rename itself made durable (best effort: some file systems cannot fsync a directory).
        await open(dirname(o.out), 'r')
          .then((d) => d.sync().finally(() => d.close()))
          .catch(() => undefined);
        const anchor =
          from === 1n
            ? 'genesis'
            : anchorHash
              ? `${from - 1n}:${toHex(anchorHash)} (as claimed by the stream: confirm it against a checkpoint)`
              : `${from - 1n}:<hash of record ${from - 1n}>`;
        process.stdout.write(`exported ${n} records (${n > 0 ? `${from}..${from + BigInt(n) - 1n}` : 'none'}) of chain ${chainId} to ${o.out}; verify with anchor ${anchor}${n === 0 ? ` and --chain ${chainId}` : ''}\n`);
      } catch (e) {
        if (wroteTmp) await rm(tmp, { force: true }).catch(() => undefined);
        throw e;
      } finally {
        removeOnSignal?.();
        await closeNats(nc);
      }
    });
}

/** A record's hash claim from its header (lowercase hex, 32 bytes); INTEGRITY when missing or malformed: every sequencer record has both. */
function claimOf(sequence: bigint, value: string | undefined, header: string): Uint8Array {
  if (!value) throw new HwlError('INTEGRITY', `record ${sequence} has no ${header} header: not written by a sequencer (run hwledger verify)`);
  try {
    return hashFromHex(value, header);
  } catch {
    throw new HwlError('INTEGRITY', `record ${sequence} has a malformed ${header} header (${JSON.stringify(value.slice(0, 80))}): run hwledger verify`);
  }
}
