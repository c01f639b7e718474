/**
 * `hwledger verify --file EXPORT.jsonl --checkpoint NOTE [--checkpoint NOTE…]
 * --key KEY`: an export checked offline against signed checkpoints.
 *
 * Threat: an export is only a file. Whoever hands it over can re-seal a
 * different history from genesis with every hash recomputed; the hash chain
 * alone (plain `--file`) verifies such a file. A checkpoint note signed by
 * the sequencer's key (spec chain-format.md "Signed checkpoints"; obtained
 * from `hwledger checkpoint show --json`, an archive's `checkpoint-<N>.note`,
 * a git replica) fixes the head hash and the RFC 9162 Merkle root of the
 * chain at its size: the export must reproduce both, for every note given,
 * and reach every note's size (a shorter export is `truncated`).
 *
 * The Merkle root covers every record from 1, so the export must start at
 * sequence 1 (no --anchor). Notes and keys are attacker-supplied input as
 * much as the export: a note that does not verify with a trusted key is
 * `bad_signature`, and keys bound to another chain are not trusted for this
 * one. Lines are read with boundedLines, as in plain file mode.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseSignedCheckpoint } from '@hwledger/chain';
import { boundedLines, genesisTreeAnchor, keysForChain, LineTooLongError, MAX_SEGMENT_LINE_BYTES, SegmentVerifier, type ExpectedCheckpoint } from '@hwledger/ledger-ops';
import { ExitError } from '../exit-error.js';
import { describeFailure } from '../ops/options.js';
import { requireBoundKeys, trustedKeys } from '../ops/keys-cli.js';

export interface VerifyFileCheckpointsOptions {
  file: string;
  checkpoints: readonly string[];
  /** --key arguments (HWL_CHECKPOINT_PUBKEYS is added). */
  keys: readonly string[] | undefined;
  anchor?: string | undefined;
  /** --chain, else HWL_CHAIN_ID; else the notes' chain. */
  chain?: string | undefined;
}

/** Verifies; prints one line; exit 0 (intact), 1 (first failure), 2 (usage, unreadable input). */
export async function verifyFileCheckpoints(o: VerifyFileCheckpointsOptions): Promise<void> {
  if (o.anchor !== undefined) {
    throw new ExitError(2, 'verify --file with --checkpoint takes no --anchor: a checkpoint signs the Merkle root over every record from 1, so the export must start at sequence 1');
  }
  const keys = trustedKeys(o.keys);
  if (keys.length === 0) {
    throw new ExitError(2, 'verify --file with --checkpoint needs the verifier key (--key, or HWL_CHECKPOINT_PUBKEYS): a note whose signature is not checked proves nothing');
  }
  const notes: ExpectedCheckpoint[] = [];
  for (const path of o.checkpoints) {
    let note: string;
    try {
      note = await readFile(path, 'utf8');
    } catch (e) {
      throw new ExitError(2, `cannot read checkpoint ${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
    notes.push({ note: note.endsWith('\n') ? note : `${note}\n`, source: basename(path), file: path });
  }
  let chainId = o.chain;
  if (chainId === undefined) {
    // The chain id will come from the notes, which are input like the export: several unbound
    // keys would then all be trusted for whatever chain a note names (a region's key signing a
    // forged history of another region). As verify-proof: bind them, or name the chain.
    requireBoundKeys(keys, `verify --file ${o.file} without --chain`);
    // The notes name their chain; unparsable ones fail below as bad_signature, naming the file.
    for (const n of notes) {
      try {
        chainId = parseSignedCheckpoint(n.note).checkpoint.chainId;
        break;
      } catch {
        // next
      }
    }
  }
  if (chainId === undefined) throw new ExitError(2, 'no chain id: pass --chain (or HWL_CHAIN_ID); none of the checkpoint notes names one');
  requireBoundKeys(keys, `verify --file ${o.file}`, [chainId]);
  const trusted = keysForChain(keys, chainId);
  if (trusted.length === 0) throw new ExitError(2, `none of the keys given is trusted for chain ${chainId} (each is bound to another chain)`);

  const verifier = new SegmentVerifier(genesisTreeAnchor(chainId), notes, trusted);
  const name = basename(o.file);
  const input = createReadStream(o.file);
  try {
    for await (const { text, line } of boundedLines(input, name, MAX_SEGMENT_LINE_BYTES)) {
      if (text.trim() === '') continue;
      if (verifier.pushLine(text, name, line)) break;
    }
  } catch (e) {
    if (e instanceof LineTooLongError) {
      verifier.fail(verifier.expected, 'malformed_line', `a line longer than ${MAX_SEGMENT_LINE_BYTES} bytes`, name, e.line);
    } else {
      throw new ExitError(2, `cannot read ${o.file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  } finally {
    input.destroy();
  }
  const r = verifier.finish({ ends: 'the export ends' });
  if (!r.ok) {
    process.stdout.write(`FAILED at ${describeFailure(r)}\n`);
    throw new ExitError(1, '');
  }
  process.stdout.write(
    `verified ${r.verified} records of chain ${chainId} (${name}, from genesis): head sequence ${r.head.sequence}; ${r.checkpointsChecked} signed checkpoint${r.checkpointsChecked === 1 ? '' : 's'} verified and reproduced\n`,
  );
}
