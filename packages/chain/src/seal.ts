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

export function sealEvent(event: ChainEvent, fields: SealFields, prevHash: Uint8Array): Sealed {
  const record = { ...event, ...fields } as ChainRecord;
  const canonical = encodeRecord(record);
  return { record, canonical, prevHash, hash: chainHash(prevHash, canonical) };
}
