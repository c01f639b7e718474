/**
 * Nats-Msg-Id of a chain record (32 characters):
 *
 *   base64url(first 16 bytes of the event key || first 8 bytes of current_hash)
 *
 * The event key is core's recordMsgId (spec: "derived from source and
 * event_id"), SHA-256 based; its first 16 bytes (128 bits) are what the
 * recent-id set compares to catch duplicate events (recent-ids.ts). A
 * collision needs 2^64 tries among one's own events, and another node's
 * event cannot be aimed at: sources are bound to the publishing node, so
 * that would take a second preimage of 128 bits. The hash suffix (64 bits)
 * makes the id unique to this exact record, which is what lets every append
 * after a session's first carry Nats-Expected-Last-Msg-Id = the id of this
 * writer's previous record: the server then stores record n only if the
 * message right before it is *this writer's* record n-1. With pipelined
 * appends, expected-last-sequence alone is not enough (if append k fails
 * because another writer appended once, append k+1 expecting L+k would find
 * the count matching and land, linked to a record that is not there); the id
 * chain closes that hole. Two writers' records for the same event at the
 * same position differ in sealed_at and so in current_hash: 64 bits tell
 * them apart (a clash once in 2^64 such races). A retried identical record
 * still deduplicates. RFC 4648 §5 base64url, unpadded: 24 bytes are exactly
 * 32 characters.
 *
 * Why so short: nats-server keeps every id for the chain stream's duplicate
 * window (2 minutes: millions of ids at full rate) and, up to 2.9 at least,
 * copies the value of each header it reads byte by byte into a slice that
 * grows 8, 16, 32, 64 bytes: it reads this id twice per record (Nats-Msg-Id,
 * and Nats-Expected-Last-Msg-Id on the next), and its cost per stored record
 * grows with the header bytes (docs/sequencer.md, "Record message ids").
 *
 * Earlier forms, still read back (eventKeyOfMsgId):
 * - 2026-12-07: <event key, 24 bytes>.<first 16 bytes of current_hash>, both
 *   base64url: 32 + '.' + 22 = 55 characters;
 * - before 2026-12-07: the same in lowercase hex: 48 + '.' + 32 = 81.
 */

/** Bytes of an event key (recordMsgId: 48 hex digits). */
export const EVENT_KEY_BYTES = 24;
/** Bytes of the event key in the id. */
export const MSG_ID_KEY_BYTES = 16;
/** Bytes of current_hash in the id (64 bits). */
export const MSG_ID_HASH_BYTES = 8;
/** Characters of the id: base64url of 16 + 8 bytes. */
export const CHAIN_MSG_ID_LENGTH = b64Length(MSG_ID_KEY_BYTES + MSG_ID_HASH_BYTES);

/** RFC 4648 §5 alphabet, as char codes. */
export const B64URL = Uint8Array.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', (c) => c.charCodeAt(0));

/** Characters of n bytes in unpadded base64url. */
export function b64Length(n: number): number {
  return Math.floor(n / 3) * 4 + [0, 2, 3][n % 3]!;
}

/** Writes src[0..n) as unpadded base64url at out[o..); returns the offset after it. */
export function putBase64Url(out: Uint8Array, o: number, src: Uint8Array, n: number): number {
  let i = 0;
  for (; i + 3 <= n; i += 3) {
    const v = (src[i]! << 16) | (src[i + 1]! << 8) | src[i + 2]!;
    out[o++] = B64URL[v >> 18]!;
    out[o++] = B64URL[(v >> 12) & 63]!;
    out[o++] = B64URL[(v >> 6) & 63]!;
    out[o++] = B64URL[v & 63]!;
  }
  if (n - i === 1) {
    const v = src[i]!;
    out[o++] = B64URL[v >> 2]!;
    out[o++] = B64URL[(v & 3) << 4]!;
  } else if (n - i === 2) {
    const v = (src[i]! << 8) | src[i + 1]!;
    out[o++] = B64URL[v >> 10]!;
    out[o++] = B64URL[(v >> 4) & 63]!;
    out[o++] = B64URL[(v & 15) << 2]!;
  }
  return o;
}

const HEX_KEY = /^[0-9a-f]{48}$/;
const B64 = /^[A-Za-z0-9_-]*$/;
const HEX_HASH = /^[0-9a-f]{64}$/;

/** The 24 bytes of an event key given as its 48 lowercase hex digits. */
export function eventKeyBytes(eventKeyHex: string): Uint8Array {
  if (!HEX_KEY.test(eventKeyHex)) throw new RangeError('an event key is 48 lowercase hex digits (recordMsgId)');
  return Uint8Array.from(Buffer.from(eventKeyHex, 'hex'));
}

/** The chain record id of an event key (48 hex digits) and a current_hash (64 hex digits); record-headers.ts writes the same bytes. */
export function chainMsgId(eventKeyHex: string, hashHex: string): string {
  if (!HEX_HASH.test(hashHex)) throw new RangeError('current_hash is 64 lowercase hex digits');
  const src = new Uint8Array(MSG_ID_KEY_BYTES + MSG_ID_HASH_BYTES);
  src.set(eventKeyBytes(eventKeyHex).subarray(0, MSG_ID_KEY_BYTES));
  src.set(Buffer.from(hashHex.slice(0, 2 * MSG_ID_HASH_BYTES), 'hex'), MSG_ID_KEY_BYTES);
  const out = new Uint8Array(CHAIN_MSG_ID_LENGTH);
  putBase64Url(out, 0, src, src.length);
  return Buffer.from(out).toString('latin1');
}

/**
 * The event key of a chain record's Nats-Msg-Id, in lowercase hex: its
 * first 16 bytes (32 digits) from this version's ids, the whole key (48
 * digits, recordMsgId) from the two earlier forms. RecentIds compares the
 * first 16 bytes, so either matches the event. Anything else is returned as
 * it is (its part before a '.'), which matches no event: headers are claims,
 * not facts.
 */
export function eventKeyOfMsgId(msgId: string): string {
  if (msgId.length === CHAIN_MSG_ID_LENGTH && B64.test(msgId)) {
    return Buffer.from(msgId, 'base64url').subarray(0, MSG_ID_KEY_BYTES).toString('hex');
  }
  const i = msgId.indexOf('.');
  const key = i < 0 ? msgId : msgId.slice(0, i);
  if (key.length === 32 && i === 32 && B64.test(key)) return Buffer.from(key, 'base64url').toString('hex'); // 2026-12-07: 24 bytes
  return key;
}
