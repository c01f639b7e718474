import { loadVerifiers } from '@hwledger/ledger-ops';
import type { NoteVerifier } from '@hwledger/chain';

/** Verifier keys from --key arguments and HWL_CHECKPOINT_PUBKEYS (comma-separated texts or files). */
export function trustedKeys(args: readonly string[] | undefined): NoteVerifier[] {
  const env = process.env['HWL_CHECKPOINT_PUBKEYS'];
  const all = [...(args ?? []), ...(env ? env.split(',').map((s) => s.trim()).filter((s) => s !== '') : [])];
  return loadVerifiers(all);
}
