/**
 * Key files (signed-note text formats of @hwledger/chain):
 *   signer  `PRIVATE+KEY+<name>+<hex id>+<base64>`   (file, mode 0600)
 *   verifier `<name>+<hex id>+<base64>`              (text or file; share it with auditors)
 * A key argument may be the key text itself or a path to a file holding it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseSignerKey, parseVerifierKey, verifierOf, type NoteSigner, type NoteVerifier } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';

function textOf(arg: string, what: string): string {
  if (/^[^\s+/]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$/.test(arg.trim())) return arg.trim();
  if (!existsSync(arg)) throw new HwlError('CONFIG', `${what} ${JSON.stringify(arg)} is neither key text nor a readable file`);
  return readFileSync(arg, 'utf8').trim();
}

export function loadSigner(file: string): NoteSigner {
  if (!existsSync(file)) throw new HwlError('CONFIG', `checkpoint key file ${JSON.stringify(file)} does not exist (create one with hwledger checkpoint keygen)`);
  try {
    return parseSignerKey(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new HwlError('CONFIG', `checkpoint key file ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Verifier keys from key texts or files; a signer key file is accepted too (its public half is used). */
export function loadVerifiers(args: readonly string[]): NoteVerifier[] {
  return args.map((arg) => {
    const text = textOf(arg, 'key');
    try {
      return text.startsWith('PRIVATE+KEY+') ? verifierOf(parseSignerKey(text)) : parseVerifierKey(text);
    } catch (e) {
      throw new HwlError('CONFIG', `key ${JSON.stringify(arg)}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
}
