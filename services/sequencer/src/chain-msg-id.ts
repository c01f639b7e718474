/**
 * Nats-Msg-Id of a chain record:
 *
 *   <recordMsgId(source, event_id)>.<first 32 hex digits of current_hash>
 *
 * The first part is core's recordMsgId (spec: "derived from source and
 * event_id"): the event's key, used by the recent-id set to catch duplicate
 * events. The hash suffix makes the id unique to this exact record, which is
 * what lets every append after a session's first carry
 * Nats-Expected-Last-Msg-Id = the id of this writer's previous record: the
 * server then stores record n only if the message right before it is *this
 * writer's* record n-1. With pipelined appends, expected-last-sequence alone
 * is not enough (if append k fails because another writer appended once,
 * append k+1 expecting L+k would find the count matching and land, linked to
 * a record that is not there); the id chain closes that hole. A retried
 * identical record still deduplicates.
 */
export function chainMsgId(eventKey: string, hashHex: string): string {
  return `${eventKey}.${hashHex.slice(0, 32)}`; // record-headers.ts writes the same bytes
}

/** The event key (recordMsgId part) of a chain record's Nats-Msg-Id. */
export function eventKeyOfMsgId(msgId: string): string {
  const i = msgId.indexOf('.');
  return i < 0 ? msgId : msgId.slice(0, i);
}
