/**
 * Nats-Msg-Id of an ingest message, derived from the event ids it carries so
 * that publishing the same batch again (a retry after a lost PubAck, an
 * outbox flush after a restart) is dropped by the ingest stream's duplicate
 * window instead of being stored twice.
 *
 * With `key` (the agent's secret, msg-id-key.ts): `k-` and 48 hex digits of
 * HMAC-SHA256(key, the events' record ids), which no other node can compute
 * and so cannot publish first to have the real message dropped as a
 * duplicate. Without (`hwledger emit`, whose re-runs must find the same ids):
 * one event, the record id of (source, event_id); several, a digest of theirs.
 */
import { createHmac } from 'node:crypto';
import { sha256, toHex, utf8Encode } from '@hwledger/chain';
import { recordMsgId } from '@hwledger/core';

export function ingestMsgId(ids: readonly { source: string; eventId: string }[], key?: Uint8Array): string {
  if (ids.length === 0) throw new RangeError('an ingest message carries at least one event');
  if (key !== undefined) {
    const mac = createHmac('sha256', key);
    ids.forEach((e, i) => mac.update(i === 0 ? recordMsgId(e.source, e.eventId) : `,${recordMsgId(e.source, e.eventId)}`));
    return `k-${mac.digest('hex').slice(0, 48)}`;
  }
  if (ids.length === 1) return recordMsgId(ids[0]!.source, ids[0]!.eventId);
  return `b-${toHex(sha256(utf8Encode(ids.map((e) => recordMsgId(e.source, e.eventId)).join(',')))).slice(0, 48)}`;
}
