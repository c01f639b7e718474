/**
 * `hwledger verify-proof BUNDLE --key PUBKEY`: checks an inclusion or
 * consistency proof bundle offline, with nothing but the chain's verifier
 * key (docs/proofs.md). Exit 0 valid, 1 invalid (the reason is printed).
 *
 * Keys and chains (threat: the holder of one region's key signing a bundle
 * of another region's chain): `--key CHAIN=KEY` trusts KEY for CHAIN only;
 * `--chain ID` requires the bundle to be of chain ID and trusts unbound keys
 * for it only; one unbound key alone is trusted for the bundle's chain (one
 * chain, as before); several keys with any unbound and no --chain: exit 2.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SUBJECT_TOKEN_RE, toHex } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';
import { parseProofBundle, verifyProofBundle } from '@hwledger/ledger-ops';
import { ExitError } from '../exit-error.js';
import { collect } from '../ops/options.js';
import { requireBoundKeys, trustedKeys } from '../ops/keys-cli.js';

export function register(program: Command): void {
  program
    .command('verify-proof')
    .description('Verify an offline proof bundle written by hwledger prove, with only the verifier key')
    .argument('<bundle>', 'bundle file (JSON)')
    .option('--key <key>', 'verifier key text or file, or CHAIN=KEY to trust it for that chain only (repeatable; env HWL_CHECKPOINT_PUBKEYS)', collect)
    .option('--chain <id>', 'the chain the bundle must be of (unbound --key keys are trusted for it only)')
    .option('--json', 'print the verified record as JSON')
    .action((file: string, o: { key?: string[]; chain?: string; json?: boolean }) => {
      const keys = trustedKeys(o.key);
      if (keys.length === 0) throw new ExitError(2, 'pass --key (the chain verifier key)');
      if (o.chain !== undefined && !SUBJECT_TOKEN_RE.test(o.chain)) throw new ExitError(2, `--chain ${JSON.stringify(o.chain)} is not a chain id`);
      if (o.chain === undefined) requireBoundKeys(keys, 'verify-proof');
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new ExitError(2, `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
      }
      let v;
      try {
        v = verifyProofBundle(parseProofBundle(text), keys, o.chain !== undefined ? { chainId: o.chain } : {});
      } catch (e) {
        if (e instanceof HwlError && (e.code === 'INTEGRITY' || e.code === 'INVALID_ARGUMENT')) throw new ExitError(1, `proof INVALID: ${e.message}`);
        throw e;
      }
      if (v.type === 'hwledger.consistency-proof.v1') {
        process.stdout.write(`proof OK: chain ${v.chainId} checkpoint at ${v.newSize} extends the one at ${v.oldSize} (signed by ${v.verifiedBy.join(', ')})\n`);
        return;
      }
      const r = v.record;
      if (o.json) {
        process.stdout.write(JSON.stringify({ ok: true, chain_id: v.chainId, sequence: v.sequence.toString(), tree_size: v.treeSize.toString(), hash: toHex(v.hash), verified_by: v.verifiedBy }) + '\n');
        return;
      }
      process.stdout.write(
        `proof OK: record ${v.sequence} of chain ${v.chainId} (${r.kind}${r.tenant ? `, tenant ${r.tenant}` : ''}, event ${r.source}/${r.eventId}) is in the checkpoint of ${v.treeSize} records signed by ${v.verifiedBy.join(', ')}\n`,
      );
    });
}
