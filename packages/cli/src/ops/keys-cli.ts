/**
 * Checkpoint verifier keys from the command line (`--key`, repeatable) and
 * HWL_CHECKPOINT_PUBKEYS (comma-separated), each one of:
 *
 *   KEY          key text (`name+id+base64`) or a key file: unbound
 *   CHAIN=KEY    the same, bound to chain CHAIN (origin hwledger/CHAIN);
 *                repeat it to bind one key to several chains
 *
 * Threat: cross-region forgery. A key file carries no origin (signed-note
 * verifier keys are name, id and public key only), so with the keys of
 * several regions the verifier cannot tell which key signs which region: an
 * unbound key would let the holder of us-east-1's key sign eu-west-1's
 * checkpoints. A bound key verifies only its chains' checkpoints; commands
 * that verify several chains (fleet-anchor, verify --fleet/--git/--archive
 * over several chains, verify-proof with several keys and no --chain) refuse
 * unbound keys.
 */
import { loadVerifiers } from '@hwledger/ledger-ops';
import { SUBJECT_TOKEN_RE, toHex, type NoteVerifier } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';

/** `CHAIN=KEY`: a chain id (no '+', '/', '.' or '=') before the first '='. Key texts contain '+', paths '/' or '.', so neither is taken for a binding. */
const BINDING_RE = /^([^=]+)=(.+)$/s;

function parseKeyArg(arg: string): NoteVerifier {
  const trimmed = arg.trim();
  const m = BINDING_RE.exec(trimmed);
  if (m && SUBJECT_TOKEN_RE.test(m[1]!)) {
    const [v] = loadVerifiers([m[2]!.trim()]);
    return { ...v!, chains: [m[1]!] };
  }
  const [v] = loadVerifiers([trimmed]);
  return v!;
}

/** Verifier keys from --key arguments and HWL_CHECKPOINT_PUBKEYS (comma-separated texts or files, each optionally CHAIN=). */
export function trustedKeys(args: readonly string[] | undefined): NoteVerifier[] {
  const env = process.env['HWL_CHECKPOINT_PUBKEYS'];
  const all = [...(args ?? []), ...(env ? env.split(',').map((s) => s.trim()).filter((s) => s !== '') : [])];
  return all.map(parseKeyArg);
}

const keyIdentity = (k: NoteVerifier): string => `${k.name}+${toHex(k.keyId)}+${toHex(k.publicKey)}`;

/**
 * Refuses unbound keys when they could sign for a chain they are not meant
 * for: when `chains` holds several chains, or (chains unknown, e.g. a proof
 * bundle names its own) when more than one distinct key is given: HwlError
 * CONFIG (exit 2).
 */
export function requireBoundKeys(keys: readonly NoteVerifier[], what: string, chains?: readonly string[]): void {
  const unbound = keys.filter((k) => k.chains === undefined);
  if (unbound.length === 0) return;
  const distinctChains = chains ? [...new Set(chains)] : undefined;
  if (distinctChains ? distinctChains.length <= 1 : new Set(keys.map(keyIdentity)).size <= 1) return;
  const names = [...new Set(unbound.map((k) => k.name))].join(', ');
  const scope = distinctChains ? `covers several chains (${distinctChains.join(', ')})` : 'has several keys and no --chain';
  throw new HwlError(
    'CONFIG',
    `${what} ${scope}: bind each key to the chain it signs for (--key CHAIN=KEY, repeatable for a key shared by several chains); unbound: ${names}`,
  );
}
