/**
 * Nats-Msg-Id of a chain record (55 characters):
 *
 *   <event key, base64url: 32 chars>.<first 16 bytes of current_hash, base64url: 22 chars>
 *
 * The event key is core's recordMsgId (spec: "derived from source and
 * event_id"): its 24 bytes (192 bits), written in RFC 4648 §5 base64url
 * without padding. The recent-id set uses it to catch duplicate events. The
 * hash suffix (128 bits) makes the id unique to this exact record, which is
 * what lets every append after a session's first carry
 * Nats-Expected-Last-Msg-Id = the id of this writer's previous record: the
 * server then stores record n only if the message right before it is *this
 * writer's* record n-1. With pipelined appends, expected-last-sequence alone
 * is not enough (if append k fails because another writer appended once,
 * append k+1 expecting L+k would find the count matching and land, linked to
 * a record that is not there); the id chain closes that hole. A retried
 * identical record still deduplicates.
 *
 * Why base64url and not hex (as records sealed before 2026-12-07 have it: 48
 * hex digits, '.', 32 hex digits; 81 characters): nats-server keeps every
 * id for the chain stream's duplicate window (2 minutes: millions of ids at
 * full rate) and, up to 2.9 at least, copies the value of each header it
 * reads byte by byte into a growing slice. It reads this id twice per
 * record (Nats-Msg-Id, and Nats-Expected-Last-Msg-Id on the next). The
 * shorter id stored measurably more records per second (docs/sequencer.md,
 * "Record message ids"). Both forms are read back (eventKeyOfMsgId).
 */

/** Bytes of the event key in the id (recordMsgId: 48 hex digits). */
export const MSG_ID_KEY_BYTES = 24;
/** Bytes of current_hash in the id (128 bits). */
export const MSG_ID_HASH_BYTES = 16;
/** Characters of the id: 32 + '.' + 22. */
export const CHAIN_MSG_ID_LENGTH = b64Length(MSG_ID_KEY_BYTES) + 1 + b64Length(MSG_ID_HASH_BYTES);

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
const B64_KEY = /^[A-Za-z0-9_-]{32}$/;
const HEX_HASH = /^[0-9a-f]{32}/;

/** The 24 bytes of an event key given as its 48 lowercase hex digits. */
export function eventKeyBytes(eventKeyHex: string): Uint8Array {
  if (!HEX_KEY.test(eventKeyHex)) throw new RangeError('an event key is 48 lowercase hex digits (recordMsgId)');
  return Uint8Array.from(Buffer.from(eventKeyHex, 'hex'));
}

/** The chain record id of an event key (48 hex digits) and a current_hash (64 hex digits); record-headers.ts writes the same bytes. */
export function chainMsgId(eventKeyHex: string, hashHex: string): string {
  if (!HEX_HASH.test(hashHex)) throw new RangeError('current_hash is lowercase hex');
  const out = new Uint8Array(CHAIN_MSG_ID_LENGTH);
  let o = putBase64Url(out, 0, eventKeyBytes(eventKeyHex), MSG_ID_KEY_BYTES);
  out[o++] = 0x2e; // '.'
  putBase64Url(out, o, Uint8Array.from(Buffer.from(hashHex.slice(0, 2 * MSG_ID_HASH_BYTES), 'hex')), MSG_ID_HASH_BYTES);
  return Buffer.from(out).toString('latin1');
}

/**
 * The event key (recordMsgId, 48 hex digits) of a chain record's
 * Nats-Msg-Id, in either form: base64url (55 characters) or the hex form of
 * records sealed before 2026-12-07 (81). Anything else is returned as it is
 * (its key part), which matches no event: headers are claims, not facts.
 */
export function eventKeyOfMsgId(msgId: string): string {
  const i = msgId.indexOf('.');
  const key = i < 0 ? msgId : msgId.slice(0, i);
  if (B64_KEY.test(key)) return Buffer.from(key, 'base64url').toString('hex');
  return key;
}
