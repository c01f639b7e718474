/** Sealing: turn an event into the next record of a chain. */
import { encodeRecord } from './canonical.js';
import { chainHash } from './hash.js';
import type { ChainEvent, ChainRecord, SealFields } from './record.js';

export interface Sealed {
  record: ChainRecord;
  canonical: Uint8Array;
  prevHash: Uint8Array;
  hash: Uint8Array;
}

/**
 * The chain link `SHA-256(prev_hash || canonical_bytes)` (spec: "Hash
 * chain"). `chainHash` (@noble/hashes, portable) is the default; a Node
 * service may pass a native SHA-256 that computes the same digest.
 */
export type ChainHashFn = (prevHash: Uint8Array, canonical: Uint8Array) => Uint8Array;

export function sealEvent(event: ChainEvent, fields: SealFields, prevHash: Uint8Array, hash: ChainHashFn = chainHash): Sealed {
  const record = { ...event, ...fields } as ChainRecord;
  const canonical = encodeRecord(record);
  return { record, canonical, prevHash, hash: hash(prevHash, canonical) };
}
