/**
 * `hwledger verify`. Modes:
 *   --file EXPORT.jsonl [--anchor SEQ:HASH] [--chain ID]   an export, offline (verify-file.ts); a chain id
 *                                                          given (--chain, else env HWL_CHAIN_ID) must be the
 *                                                          records' (wrong_chain otherwise); none: the first record's
 *   --file EXPORT.jsonl --checkpoint NOTE… --key KEY        an export from genesis against signed checkpoint notes:
 *                                                          head hash and Merkle root (verify-file-checkpoints.ts)
 *   --git / --archive / --fleet                           issue 6 (verify-ops.ts), two lines marked "issue 6"
 *   no --file [--anchor SEQ:HASH] [--nats URL] [--chain ID] the live chain stream (verify-live.ts, issue 3),
 *                                                          through the same runVerify (verify-run.ts)
 *   no --file, --key KEY (or HWL_CHECKPOINT_PUBKEYS)       the live chain and its signed checkpoints
 *                                                          (verify-ops.ts verifyLiveSigned)
 * Exit 0 with a one-line summary when intact; 1 naming the first bad
 * sequence and the reason; 2 for usage errors.
 */
import type { Command } from 'commander';
import { addOpsVerifyOptions, runOpsVerify, verifyLiveSigned, type OpsVerifyOptions } from './verify-ops.js';
import { verifyFile } from './verify-file.js';
import { verifyFileCheckpoints } from './verify-file-checkpoints.js';
import { collect } from '../ops/options.js';
import { runLiveVerify } from './verify-live.js';
import { ExitError } from '../exit-error.js';

export {
  runVerify,
  VerifyInputError,
  formatVerifyFailure,
  formatVerifySuccess,
  type LocatedInput,
  type RunVerifyOptions,
  type VerifyProgress,
} from './verify-run.js';
export { verifyFile, parseAnchorOption } from './verify-file.js';

interface VerifyOptions extends OpsVerifyOptions {
  file?: string;
  anchor?: string;
  checkpoint?: string[];
}

export function register(program: Command): void {
  const cmd = program
    .command('verify')
    .description('Verify an export (--file), a git replica (--git), an archive (--archive) or the fleet anchor (--fleet)')
    .option('--file <export.jsonl>', 'verify an export (spec "Export (JSONL)") offline, streaming')
    .option('--anchor <seq:hash>', 'trusted hash of the record just before the first verified one (default: genesis)')
    .option('--chain <id>', "chain id (env HWL_CHAIN_ID; file mode: the records must be of it; neither: the first record's)")
    .option('--checkpoint <note>', 'with --file and --key: a signed checkpoint note file the export (from sequence 1) must reproduce (repeatable)', collect);
  addOpsVerifyOptions(cmd); // issue 6: --git, --archive, --fleet, --key, --offline
  cmd.action(async (o: VerifyOptions) => {
    if ((o.checkpoint ?? []).length > 0 && o.file === undefined) {
      throw new ExitError(2, '--checkpoint is for verify --file (an export); the live chain, git replicas and archives carry their checkpoints: pass --key');
    }
    if (await runOpsVerify(o)) return; // issue 6
    if (o.file !== undefined) {
      const chain = o.chain ?? (process.env['HWL_CHAIN_ID'] || undefined);
      if ((o.checkpoint ?? []).length > 0) {
        await verifyFileCheckpoints({ file: o.file, checkpoints: o.checkpoint!, keys: o.key, anchor: o.anchor, chain });
        return;
      }
      // An export holds no checkpoints: a key given without one would check nothing, and the auditor would believe it did.
      if ((o.key ?? []).length > 0) {
        throw new ExitError(
          2,
          "verify --file takes --key only with --checkpoint NOTE: an export carries no signed checkpoints; pass the checkpoint notes to reproduce (hwledger checkpoint show --json, an archive's checkpoint-<N>.note), start from a signed checkpoint's head with --anchor SEQ:HASH, or verify the live chain, a git replica or an archive with --key",
        );
      }
      // An explicit chain id (flag, else HWL_CHAIN_ID) pins the chain: threat: an export of another
      // chain handed over in its place would otherwise verify against its own first record.
      await verifyFile({ file: o.file, anchor: o.anchor, chain });
      return;
    }
    // Live mode with verifier keys: the signed checkpoints too (verify-ops.ts).
    if (await verifyLiveSigned(o)) return;
    // Live mode (no --file): the chain stream, through runVerify (issue 3, verify-live.ts).
    await runLiveVerify({ nats: o.nats, chain: o.chain, anchor: o.anchor });
  });
}
