/**
 * The hash chain (spec: "Hash chain"):
 *   current_hash = SHA-256(prev_hash || canonical_bytes)
 *   genesis      = SHA-256(UTF-8("hwledger/genesis/v1/" + chain_id))
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8Encode } from './bytes.js';
import { ChainError } from './errors.js';

export const HASH_LENGTH = 32;
export const GENESIS_PREFIX = 'hwledger/genesis/v1/';

export function genesisHash(chainId: string): Uint8Array {
  return sha256(utf8Encode(GENESIS_PREFIX + chainId, 'chain_id'));
}

export function chainHash(prevHash: Uint8Array, canonical: Uint8Array): Uint8Array {
  if (prevHash.length !== HASH_LENGTH) throw new ChainError('INVALID_FIELD', `prev_hash must be ${HASH_LENGTH} bytes`);
  return sha256.create().update(prevHash).update(canonical).digest();
}

export { sha256 };
