/**
 * `hwledger export --out FILE.jsonl [--from SEQ]`: writes the chain in the
 * spec's export format (spec: "Export (JSONL)"), one record a line with
 * chain_id, sequence, canonical, hash, prev_hash and the decoded record.
 * Hashes are recomputed from the canonical bytes, starting from genesis
 * (--from 1) or from the Hwl-Prev-Hash claim of the first exported record;
 * a verifier trusts neither and checks the export against its own anchor.
 * The file is written to FILE.tmp and renamed when complete.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import type { Command } from 'commander';
import { chainHash, decodeRecord, formatExportLine, genesisHash, hashFromHex, parseU64, toHex } from '@hwledger/chain';
import { closeNats, connectNats, HEADERS, HwlError, resolveChainId, resolveNatsUrl } from '@hwledger/core';
import { chainStreamState, readChain } from '@hwledger/sequencer';
import { ExitError } from '../main.js';

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
      const tmp = `${o.out}.tmp`;
      try {
        const state = await chainStreamState(nc, chainId);
        const head = state.last;
        if (from > head + 1n) throw new ExitError(1, `--from ${from} is beyond the chain head ${head}`);
        const out = createWriteStream(tmp, { encoding: 'utf8' });
        let prev: Uint8Array | undefined = from === 1n ? genesisHash(chainId) : undefined;
        let anchorHash = prev;
        let expected = from;
        let n = 0;
        for await (const e of readChain(nc, chainId, { fromSeq: from, toSeq: head })) {
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
            throw new HwlError('INTEGRITY', `record ${e.sequence} does not decode (${err instanceof Error ? err.message : String(err)}): run hwledger verify`);
          }
          const hash = chainHash(prev, e.canonical);
          const line = formatExportLine({ record, canonical: e.canonical, hash, prevHash: prev });
          if (!out.write(line + '\n')) await once(out, 'drain');
          prev = hash;
          expected++;
          n++;
        }
        out.end();
        await once(out, 'finish');
        await rename(tmp, o.out);
        const anchor =
          from === 1n
            ? 'genesis'
            : anchorHash
              ? `${from - 1n}:${toHex(anchorHash)} (as claimed by the stream: confirm it against a checkpoint)`
              : `${from - 1n}:<hash of record ${from - 1n}>`;
        process.stdout.write(`exported ${n} records (${n > 0 ? `${from}..${from + BigInt(n) - 1n}` : 'none'}) of chain ${chainId} to ${o.out}; verify with anchor ${anchor}\n`);
      } catch (e) {
        await rm(tmp, { force: true });
        throw e;
      } finally {
        await closeNats(nc);
      }
    });
}
