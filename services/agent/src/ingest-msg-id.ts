/**
 * Nats-Msg-Id of an ingest message, derived from the event ids it carries so
 * that publishing the same batch again (a retry after a lost PubAck, an
 * outbox flush after a restart) is dropped by the ingest stream's duplicate
 * window instead of being stored twice. One event: the record id of
 * (source, event_id), as `hwledger emit` uses; several: a digest of theirs.
 */
import { sha256, toHex, utf8Encode } from '@hwledger/chain';
import { recordMsgId } from '@hwledger/core';

export function ingestMsgId(ids: readonly { source: string; eventId: string }[]): string {
  if (ids.length === 0) throw new RangeError('an ingest message carries at least one event');
  if (ids.length === 1) return recordMsgId(ids[0]!.source, ids[0]!.eventId);
  return `b-${toHex(sha256(utf8Encode(ids.map((e) => recordMsgId(e.source, e.eventId)).join(',')))).slice(0, 48)}`;
}
