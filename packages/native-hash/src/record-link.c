/*
 * One sealed record's chain link and header block, in one call: the
 * sequencer's append (services/sequencer/src/sealing-session.ts) for records
 * of the fast path. It hashes the record bytes the sequencer has laid out
 * (spec chain-format.md: current_hash = SHA-256(prev_hash || canonical)) and
 * writes the record's header block (docs/sequencer.md, "What a consumer can
 * rely on") right after them, exactly as record-headers.ts's
 * encodeRecordHeaders does; tests compare the two byte for byte
 * (services/sequencer/test/record-link.unit.test.ts).
 *
 * The header names are not compiled in: the caller's state holds the
 * constant pieces of the block, made by record-headers.ts from the same
 * constants as encodeRecordHeaders (one spelling of every header).
 *
 * Inputs come from the sequencer itself (its slab, its numbers), not from a
 * producer; they are still checked at this boundary, and a bad argument
 * throws (ERR_NATIVE_ARGS) before anything is written.
 *
 * sealLink(buf, recAt, recLen, hdrAt, nums, state) -> header length
 *   buf    Uint8Array  holds prev_hash || canonical at [recAt, recAt+recLen);
 *                      the header block goes at hdrAt (not overlapping it)
 *   nums   Float64Array(4)  sequence (>= 1), ingest sequence, index, count:
 *                      integers in [0, 2^53)
 *   state  Uint8Array  [0,24) the event key's bytes (caller);
 *                      [24,56) current_hash (written here);
 *                      [56] and [57,57+len) the previous record's
 *                      Nats-Msg-Id (len 0: none; replaced here by this one's);
 *                      [LINK_TEMPLATE_AT..) the pieces: count, then per
 *                      piece a 2-byte big-endian length and its bytes.
 */
#include <node_api.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

#define KEY_AT 0
#define HASH_AT 24
#define LAST_ID_AT 56
#define LAST_ID_MAX 120
#define TEMPLATE_AT 180
#define PIECES 9
/* Nats-Msg-Id: base64url of the key's first 16 bytes and current_hash's
 * first 8 (services/sequencer/src/chain-msg-id.ts). */
#define MSG_ID_KEY_BYTES 16
#define MSG_ID_HASH_BYTES 8
#define MAX_SAFE 9007199254740991.0

static const char HEX[] = "0123456789abcdef";
/* RFC 4648 section 5 (base64url), unpadded: the record's Nats-Msg-Id
 * (services/sequencer/src/chain-msg-id.ts says why not hex). */
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static uint8_t *put_b64url(uint8_t *o, const uint8_t *b, size_t n) {
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = ((uint32_t)b[i] << 16) | ((uint32_t)b[i + 1] << 8) | b[i + 2];
    *o++ = (uint8_t)B64URL[v >> 18];
    *o++ = (uint8_t)B64URL[(v >> 12) & 63];
    *o++ = (uint8_t)B64URL[(v >> 6) & 63];
    *o++ = (uint8_t)B64URL[v & 63];
  }
  if (n - i == 1) {
    *o++ = (uint8_t)B64URL[b[i] >> 2];
    *o++ = (uint8_t)B64URL[(b[i] & 3) << 4];
  } else if (n - i == 2) {
    uint32_t v = ((uint32_t)b[i] << 8) | b[i + 1];
    *o++ = (uint8_t)B64URL[v >> 10];
    *o++ = (uint8_t)B64URL[(v >> 4) & 63];
    *o++ = (uint8_t)B64URL[(v & 15) << 2];
  }
  return o;
}

static size_t b64url_len(size_t n) { return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1); }

static uint8_t *put_hex(uint8_t *o, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    *o++ = (uint8_t)HEX[b[i] >> 4];
    *o++ = (uint8_t)HEX[b[i] & 15];
  }
  return o;
}

static uint8_t *put_dec(uint8_t *o, uint64_t v) {
  uint8_t t[20];
  int n = 0;
  do {
    t[n++] = (uint8_t)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *o++ = t[--n];
  return o;
}

static int typed_u8(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  void *p = NULL;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  if (napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) return 0;
  *data = (uint8_t *)p;
  return 1;
}

static int index_arg(napi_env env, napi_value v, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= MAX_SAFE) || d != (double)(uint64_t)d) return 0;
  *out = (uint64_t)d;
  return 1;
}

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_range_error(env, "ERR_NATIVE_ARGS", msg);
  return NULL;
}

napi_value hwl_seal_link(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  uint8_t *buf, *st;
  size_t buf_len, st_len, nums_len;
  uint64_t rec_at, rec_len, hdr_at;
  void *nums_p = NULL;
  bool is_ta = false;
  napi_typedarray_type type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6 || !typed_u8(env, argv[0], &buf, &buf_len) ||
      !typed_u8(env, argv[5], &st, &st_len) || napi_is_typedarray(env, argv[4], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[4], &type, &nums_len, &nums_p, NULL, NULL) != napi_ok || type != napi_float64_array || nums_len != 4) {
    napi_throw_type_error(env, "ERR_NATIVE_ARGS", "sealLink(buf: Uint8Array, recAt, recLen, hdrAt, nums: Float64Array(4), state: Uint8Array)");
    return NULL;
  }
  if (!index_arg(env, argv[1], &rec_at) || !index_arg(env, argv[2], &rec_len) || !index_arg(env, argv[3], &hdr_at)) return fail(env, "sealLink: offsets must be integers >= 0");
  const double *nums = (const double *)nums_p;
  uint64_t n[4];
  for (int i = 0; i < 4; i++) {
    if (!(nums[i] >= 0 && nums[i] <= MAX_SAFE) || nums[i] != (double)(uint64_t)nums[i]) return fail(env, "sealLink: numbers must be integers in [0, 2^53)");
    n[i] = (uint64_t)nums[i];
  }
  if (n[0] < 1) return fail(env, "sealLink: sequence must be >= 1");
  if (rec_len < 32 || rec_at + rec_len > buf_len) return fail(env, "sealLink: record out of range");
  /* The pieces of the header block. */
  if (st_len <= TEMPLATE_AT || st[TEMPLATE_AT] != PIECES) return fail(env, "sealLink: state has no header template");
  const uint8_t *piece[PIECES];
  size_t piece_len[PIECES], fixed = 0, p = TEMPLATE_AT + 1;
  for (int i = 0; i < PIECES; i++) {
    if (p + 2 > st_len) return fail(env, "sealLink: malformed header template");
    piece_len[i] = ((size_t)st[p] << 8) | st[p + 1];
    p += 2;
    if (p + piece_len[i] > st_len) return fail(env, "sealLink: malformed header template");
    piece[i] = st + p;
    p += piece_len[i];
    fixed += piece_len[i];
  }
  size_t last_len = st[LAST_ID_AT];
  if (last_len > LAST_ID_MAX) return fail(env, "sealLink: previous Nats-Msg-Id too long");
  /* Worst case: message id, four decimals, two hashes, the previous id. */
  size_t id_len = b64url_len(MSG_ID_KEY_BYTES + MSG_ID_HASH_BYTES);
  size_t need = fixed + id_len + 4 * 20 + 2 * 64 + last_len;
  if (hdr_at > buf_len || need > buf_len - hdr_at) return fail(env, "sealLink: no room for the header block");
  if (hdr_at < rec_at + rec_len && rec_at < hdr_at + need) return fail(env, "sealLink: the header block would overlap the record");

  const uint8_t *rec = buf + rec_at;
  uint8_t *hash = st + HASH_AT;
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, rec, (size_t)rec_len);
  SHA256_Final(hash, &ctx);

  uint8_t *o = buf + hdr_at;
  memcpy(o, piece[0], piece_len[0]), o += piece_len[0];
  uint8_t *id = o;
  uint8_t id_src[MSG_ID_KEY_BYTES + MSG_ID_HASH_BYTES];
  memcpy(id_src, st + KEY_AT, MSG_ID_KEY_BYTES);
  memcpy(id_src + MSG_ID_KEY_BYTES, hash, MSG_ID_HASH_BYTES);
  o = put_b64url(o, id_src, sizeof id_src);
  memcpy(o, piece[1], piece_len[1]), o += piece_len[1];
  o = put_dec(o, n[0] - 1); /* Nats-Expected-Last-Sequence */
  memcpy(o, piece[2], piece_len[2]), o += piece_len[2];
  o = put_hex(o, rec, 32); /* Hwl-Prev-Hash: the record's first 32 bytes */
  memcpy(o, piece[3], piece_len[3]), o += piece_len[3];
  o = put_hex(o, hash, 32);
  memcpy(o, piece[4], piece_len[4]), o += piece_len[4];
  o = put_dec(o, n[1]);
  memcpy(o, piece[5], piece_len[5]), o += piece_len[5];
  o = put_dec(o, n[2]);
  memcpy(o, piece[6], piece_len[6]), o += piece_len[6];
  o = put_dec(o, n[3]);
  if (last_len > 0) {
    memcpy(o, piece[7], piece_len[7]), o += piece_len[7];
    memcpy(o, st + LAST_ID_AT + 1, last_len), o += last_len;
  }
  memcpy(o, piece[8], piece_len[8]), o += piece_len[8];
  /* This record's id is the next one's Nats-Expected-Last-Msg-Id. */
  st[LAST_ID_AT] = (uint8_t)id_len;
  memcpy(st + LAST_ID_AT + 1, id, id_len);

  napi_value result;
  if (napi_create_int32(env, (int32_t)(o - (buf + hdr_at)), &result) != napi_ok) return NULL;
  return result;
}
