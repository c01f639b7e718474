/*
 * The sequencer's sealing fast path in C: one ingest message (ingest.proto
 * IngestBatch) transcoded into the producer-supplied part of each record's
 * canonical bytes (spec chain-format.md, "Record: canonical bytes", from
 * observed_at_ms on), with each event's key (recordMsgId: the first 24 bytes
 * of SHA-256(source "\n" event_id)), in one call per message.
 *
 * It is a line-for-line port of the portable fast path
 * (services/sequencer/src/fast-ingest.ts, fastAdmitPortable), which is itself
 * an accept-only shortcut of the reference decoder and validator: it accepts
 * only the plain form producers send and answers "not plain" (-1) for
 * anything else, and the caller then runs the reference path, which decides
 * every rejection. The schema (payload field -> kind tag, field types, the
 * per-kind rules, the reason names) is not compiled in: the caller passes it
 * as a table built from @hwledger/chain's KIND_FIELDS (fast-ingest.ts,
 * NATIVE_TABLE), so there is one schema. Tests compare this with the portable
 * path byte for byte on random, arbitrary and corrupted messages
 * (services/sequencer/test/fast-ingest.unit.test.ts).
 *
 * Threat: producers are untrusted (a hostile agent) and every byte of `body`
 * is attacker-controlled; parse defensively. Every read is bounds-checked
 * against the enclosing message, every write against the output's length;
 * nothing is written past a buffer whatever the input, and the function
 * returns -1 (not plain) or -2 (an output buffer too small) instead.
 *
 * transcodeIngest(body, table, limits, out, desc, keys, owner) -> number
 *   body   Uint8Array  the ingest message
 *   table  Uint8Array  schema (format below)
 *   limits Int32Array  [maxIdBytes, maxTextBytes, maxEvents, envelopeVersion]
 *   out    Uint8Array  canonical tails, back to back from offset 0
 *   desc   Int32Array  7 per event: payload field, tail start, tail end,
 *                      tenant offset in body (-1 absent), tenant length,
 *                      observed_at_ms high and low 32 bits
 *   keys   Uint8Array  24 bytes per event
 *   owner  Uint8Array  the source `<chain>/<node>` of the node whose ingest
 *          or null     subject carried the message: an event whose source is
 *                      neither it nor below it (`<chain>/<node>/...`) is not
 *                      plain (the reference path dead-letters it,
 *                      FOREIGN_SOURCE; services/sequencer/src/source-owner.ts);
 *                      null: no such check
 *   returns the number of events (>= 1), -1 (not plain: use the reference
 *   path) or -2 (out, desc or keys too small: use the portable path).
 *
 * Table: nKinds, then per kind: payload field number, kind tag, field count,
 * then per field: type (T_*), rule (R_*); then nReasons, then per reason:
 * length, bytes (reason n+1 is the n-th; 0 is no reason).
 */
#include <node_api.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

enum { T_ID_STR = 1, T_TEXT_STR = 2, T_U32 = 3, T_U64 = 4, T_SINT32 = 5, T_REASON = 6 };
enum { R_NONE = 0, R_NONZERO = 1, R_MAX_100 = 2, R_REASON = 3, R_EQ_TENANT = 4 };
#define MAX_FIELDS 16
#define MAX_KINDS 16
#define MAX_REASONS 32
#define KEY_BYTES 24
#define DESC_INTS 7
#define NOT_PLAIN (-1)
#define NO_ROOM (-2)

typedef struct {
  uint8_t field, tag, n;
  uint8_t type[MAX_FIELDS], rule[MAX_FIELDS];
} kind_t;

typedef struct {
  kind_t kinds[MAX_KINDS];
  int n_kinds;
  const uint8_t *reason[MAX_REASONS + 1];
  uint8_t reason_len[MAX_REASONS + 1];
  int n_reasons;
} schema_t;

/* Parses the caller's table; 0 if it is malformed (a caller bug: TypeError). */
static int parse_table(const uint8_t *t, size_t len, schema_t *s) {
  size_t p = 0;
  if (p >= len) return 0;
  s->n_kinds = t[p++];
  if (s->n_kinds > MAX_KINDS) return 0;
  for (int k = 0; k < s->n_kinds; k++) {
    if (p + 3 > len) return 0;
    kind_t *d = &s->kinds[k];
    d->field = t[p++];
    d->tag = t[p++];
    d->n = t[p++];
    if (d->n > MAX_FIELDS || p + 2u * d->n > len) return 0;
    for (int f = 0; f < d->n; f++) {
      d->type[f] = t[p++];
      d->rule[f] = t[p++];
      uint8_t ty = d->type[f], ru = d->rule[f];
      int str = ty == T_ID_STR || ty == T_TEXT_STR;
      if (ty < T_ID_STR || ty > T_REASON || ru > R_EQ_TENANT) return 0;
      /* Each rule on the type it reads; a reason field always with the reason rule (the writer relies on it). */
      if ((ty == T_REASON) != (ru == R_REASON)) return 0;
      if ((ru == R_NONZERO || ru == R_MAX_100) && (str || ty == T_REASON)) return 0;
      if (ru == R_EQ_TENANT && !str) return 0;
    }
  }
  if (p >= len) return 0;
  s->n_reasons = t[p++];
  if (s->n_reasons > MAX_REASONS) return 0;
  s->reason[0] = t;
  s->reason_len[0] = 0;
  for (int r = 1; r <= s->n_reasons; r++) {
    if (p >= len) return 0;
    s->reason_len[r] = t[p++];
    if (p + s->reason_len[r] > len) return 0;
    s->reason[r] = t + p;
    p += s->reason_len[r];
  }
  return p == len;
}

/* Printable ASCII, tab, LF, CR: what validateEvent accepts and UTF-8 maps to itself. */
static int plain_byte(uint8_t b) { return (b >= 0x20 && b < 0x7f) || b == 0x09 || b == 0x0a || b == 0x0d; }
static int alnum(uint8_t b) { return (b >= '0' && b <= '9') || (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z'); }

typedef struct {
  const uint8_t *buf;
  size_t pos;
  uint64_t v; /* last varint */
  int v_len;
} reader_t;

/* A varint of at most 10 bytes that fits in 64 bits, before `end`. */
static int read_varint(reader_t *r, size_t end) {
  uint64_t v = 0;
  for (int i = 0; i < 10; i++) {
    if (r->pos >= end) return 0;
    uint8_t b = r->buf[r->pos++];
    if (i == 9) {
      if (b > 1) return 0; /* beyond 64 bits, or more bytes */
      v |= (uint64_t)(b & 0x7f) << 63;
    } else
      v |= (uint64_t)(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      r->v = v;
      r->v_len = i + 1;
      return 1;
    }
  }
  return 0;
}

/* A length or a u32: at most 5 bytes and below 2^32; -1 if not. */
static int64_t read_u32(reader_t *r, size_t end) {
  if (!read_varint(r, end) || r->v > 0xffffffffu || r->v_len > 5) return -1;
  return (int64_t)r->v;
}

/* The source [at, at+len) is `owner` or lies below it (`owner` "/" more); no owner: any source. */
static int owned_source(const uint8_t *buf, int64_t at, int64_t len, const uint8_t *owner, size_t owner_len) {
  if (owner == NULL) return 1;
  if (owner_len == 0) return 0; /* an empty owner owns nothing */
  if ((size_t)len == owner_len) return memcmp(buf + at, owner, owner_len) == 0;
  return (size_t)len > owner_len + 1 && buf[at + (int64_t)owner_len] == '/' && memcmp(buf + at, owner, owner_len) == 0;
}

static int plain_string(const uint8_t *buf, int64_t at, int64_t len, int64_t max) {
  if (at < 0 || len == 0 || len > max) return 0;
  for (int64_t i = at; i < at + len; i++)
    if (!plain_byte(buf[i])) return 0;
  return 1;
}

typedef struct {
  uint8_t *out;
  size_t cap, o;
} writer_t;

static int room(writer_t *w, size_t n) { return w->o + n <= w->cap; }
static void put_u32(writer_t *w, uint32_t v) {
  w->out[w->o] = (uint8_t)(v >> 24);
  w->out[w->o + 1] = (uint8_t)(v >> 16);
  w->out[w->o + 2] = (uint8_t)(v >> 8);
  w->out[w->o + 3] = (uint8_t)v;
  w->o += 4;
}
/* The spec's `str`: u32 length, then the bytes (plain ASCII: its UTF-8 is itself). */
static int put_str(writer_t *w, const uint8_t *b, size_t len) {
  if (!room(w, 4 + len)) return 0;
  put_u32(w, (uint32_t)len);
  if (len) memcpy(w->out + w->o, b, len);
  w->o += len;
  return 1;
}

typedef struct {
  int64_t src_at, src_len, id_at, id_len, ten_at, ten_len, inst_at, inst_len;
  uint64_t obs;
  int have_obs, payload_field;
  size_t pay_at, pay_end;
} event_t;

/* One IngestEvent occupying [pos, end): fields 1 source, 2 event_id, 3 observed_at_ms, 4 tenant, 5 instance_id, 10-15 payload. */
static int read_event(reader_t *r, size_t end, event_t *e) {
  e->src_at = e->id_at = e->ten_at = e->inst_at = -1;
  e->src_len = e->id_len = e->ten_len = e->inst_len = 0;
  e->have_obs = 0;
  e->obs = 0;
  e->payload_field = 0;
  e->pay_at = e->pay_end = 0;
  while (r->pos < end) {
    uint8_t tag = r->buf[r->pos++];
    if (tag >= 0x80) return 0;
    int field = tag >> 3, wt = tag & 7;
    if (field == 3) {
      if (wt != 0 || e->have_obs || !read_varint(r, end)) return 0;
      e->obs = r->v;
      e->have_obs = 1;
      continue;
    }
    if (wt != 2) return 0;
    int64_t len = read_u32(r, end);
    if (len < 0 || (size_t)len > end - r->pos) return 0;
    int64_t at = (int64_t)r->pos;
    r->pos += (size_t)len;
    switch (field) {
      case 1:
        if (e->src_at >= 0) return 0;
        e->src_at = at, e->src_len = len;
        break;
      case 2:
        if (e->id_at >= 0) return 0;
        e->id_at = at, e->id_len = len;
        break;
      case 4:
        if (e->ten_at >= 0) return 0;
        e->ten_at = at, e->ten_len = len;
        break;
      case 5:
        if (e->inst_at >= 0) return 0;
        e->inst_at = at, e->inst_len = len;
        break;
      default:
        if (field < 10 || field > 15 || e->payload_field != 0) return 0;
        e->payload_field = field;
        e->pay_at = (size_t)at;
        e->pay_end = (size_t)(at + len);
    }
  }
  return r->pos == end;
}

/* Validates the event just read (validateEvent's rules) and writes its canonical tail; 1 ok, 0 not plain, NO_ROOM. */
static int write_event(const schema_t *s, reader_t *r, const event_t *e, const int32_t *limits, const uint8_t *owner, size_t owner_len, writer_t *w, uint8_t *key) {
  const kind_t *k = NULL;
  for (int i = 0; i < s->n_kinds; i++)
    if (s->kinds[i].field == e->payload_field) k = &s->kinds[i];
  if (k == NULL) return 0;
  const uint8_t *buf = r->buf;
  int64_t max_id = limits[0], max_text = limits[1];
  if (!plain_string(buf, e->src_at, e->src_len, max_id) || !plain_string(buf, e->id_at, e->id_len, max_id) || !plain_string(buf, e->inst_at, e->inst_len, max_id)) return 0;
  if (!owned_source(buf, e->src_at, e->src_len, owner, owner_len)) return 0;
  if (!e->have_obs || e->obs == 0) return 0;
  if (e->ten_at >= 0 && e->ten_len > 0) {
    /* SUBJECT_TOKEN_RE: [A-Za-z0-9][A-Za-z0-9_-]*, at most 128 characters. */
    if (e->ten_len > 128 || !alnum(buf[e->ten_at])) return 0;
    for (int64_t i = e->ten_at + 1; i < e->ten_at + e->ten_len; i++)
      if (!alnum(buf[i]) && buf[i] != '_' && buf[i] != '-') return 0;
  }
  /* The payload: proto field n+1 is canonical field n, each at most once. */
  int64_t f_at[MAX_FIELDS], f_len[MAX_FIELDS];
  uint64_t f_val[MAX_FIELDS];
  uint8_t seen[MAX_FIELDS] = {0};
  size_t end = e->pay_end;
  r->pos = e->pay_at;
  while (r->pos < end) {
    uint8_t tag = buf[r->pos++];
    if (tag >= 0x80) return 0;
    int n = (tag >> 3) - 1, wt = tag & 7;
    if (n < 0 || n >= k->n || seen[n]) return 0;
    seen[n] = 1;
    uint8_t type = k->type[n];
    if (type == T_ID_STR || type == T_TEXT_STR) {
      if (wt != 2) return 0;
      int64_t len = read_u32(r, end);
      if (len < 0 || (size_t)len > end - r->pos) return 0;
      f_at[n] = (int64_t)r->pos;
      f_len[n] = len;
      r->pos += (size_t)len;
    } else {
      if (wt != 0 || !read_varint(r, end)) return 0;
      if (type != T_U64 && (r->v > 0xffffffffu || r->v_len > 5)) return 0;
      f_val[n] = r->v;
    }
  }
  if (r->pos != end) return 0;
  for (int n = 0; n < k->n; n++) {
    uint8_t type = k->type[n];
    if (type == T_ID_STR || type == T_TEXT_STR) {
      if (!seen[n] || !plain_string(buf, f_at[n], f_len[n], type == T_TEXT_STR ? max_text : max_id)) return 0;
    } else if (!seen[n])
      f_val[n] = 0; /* proto3 default */
    switch (k->rule[n]) {
      case R_NONZERO:
        if (f_val[n] == 0) return 0;
        break;
      case R_MAX_100:
        if (f_val[n] > 100) return 0;
        break;
      case R_REASON:
        if (!seen[n] || f_val[n] < 1 || f_val[n] > (uint64_t)s->n_reasons) return 0;
        break;
      case R_EQ_TENANT:
        if (f_len[n] != e->ten_len || memcmp(buf + f_at[n], buf + (e->ten_at < 0 ? 0 : e->ten_at), (size_t)e->ten_len) != 0) return 0;
        break;
      default:
        break;
    }
  }
  if (!room(w, 8)) return NO_ROOM;
  put_u32(w, (uint32_t)(e->obs >> 32));
  put_u32(w, (uint32_t)e->obs);
  if (!put_str(w, buf + e->src_at, (size_t)e->src_len) || !put_str(w, buf + e->id_at, (size_t)e->id_len) || !room(w, 1)) return NO_ROOM;
  w->out[w->o++] = k->tag;
  if (!put_str(w, buf + (e->ten_at < 0 ? 0 : e->ten_at), (size_t)e->ten_len) || !put_str(w, buf + e->inst_at, (size_t)e->inst_len) || !room(w, 1)) return NO_ROOM;
  w->out[w->o++] = k->tag;
  for (int n = 0; n < k->n; n++) {
    switch (k->type[n]) {
      case T_ID_STR:
      case T_TEXT_STR:
        if (!put_str(w, buf + f_at[n], (size_t)f_len[n])) return NO_ROOM;
        break;
      case T_U32:
        if (!room(w, 4)) return NO_ROOM;
        put_u32(w, (uint32_t)f_val[n]);
        break;
      case T_SINT32: {
        uint32_t v = (uint32_t)f_val[n];
        if (!room(w, 4)) return NO_ROOM;
        put_u32(w, (v >> 1) ^ (0u - (v & 1))); /* zigzag -> i32, big-endian two's complement */
        break;
      }
      case T_U64:
        if (!room(w, 8)) return NO_ROOM;
        put_u32(w, (uint32_t)(f_val[n] >> 32));
        put_u32(w, (uint32_t)f_val[n]);
        break;
      case T_REASON: {
        /* Only reached with a defined reason: the table gives R_REASON to every T_REASON field (checked in transcode). */
        uint64_t v = f_val[n];
        if (v < 1 || v > (uint64_t)s->n_reasons) return 0;
        if (!put_str(w, s->reason[v], s->reason_len[v])) return NO_ROOM;
        break;
      }
    }
  }
  /* recordMsgId(source, event_id): the first 24 bytes of SHA-256(source "\n" event_id). */
  SHA256_CTX ctx;
  uint8_t digest[SHA256_DIGEST_LENGTH];
  static const uint8_t lf = 0x0a;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, buf + e->src_at, (size_t)e->src_len);
  SHA256_Update(&ctx, &lf, 1);
  SHA256_Update(&ctx, buf + e->id_at, (size_t)e->id_len);
  SHA256_Final(digest, &ctx);
  memcpy(key, digest, KEY_BYTES);
  return 1;
}

static int64_t transcode(const schema_t *s, const uint8_t *body, size_t end, const int32_t *limits, const uint8_t *owner, size_t owner_len, writer_t *w, int32_t *desc,
                         size_t desc_len, uint8_t *keys, size_t keys_len) {
  reader_t r = {body, 0, 0, 0};
  int64_t version = -1, count = 0;
  int64_t max_events = limits[2];
  while (r.pos < end) {
    uint8_t tag = body[r.pos++];
    if (tag == 0x08) {
      if (version != -1) return NOT_PLAIN;
      version = read_u32(&r, end);
      if (version != limits[3]) return NOT_PLAIN;
      continue;
    }
    if (tag != 0x12) return NOT_PLAIN;
    int64_t len = read_u32(&r, end);
    if (len < 0 || (size_t)len > end - r.pos) return NOT_PLAIN;
    size_t ev_end = r.pos + (size_t)len;
    /* More than maxEvents: the reference path rejects the whole message (TOO_MANY_EVENTS). */
    if (count == max_events) return NOT_PLAIN;
    event_t e;
    if (!read_event(&r, ev_end, &e)) return NOT_PLAIN;
    if ((size_t)(count + 1) * DESC_INTS > desc_len || (size_t)(count + 1) * KEY_BYTES > keys_len) return NO_ROOM;
    size_t start = w->o;
    int ok = write_event(s, &r, &e, limits, owner, owner_len, w, keys + count * KEY_BYTES);
    if (ok != 1) return ok == 0 ? NOT_PLAIN : NO_ROOM;
    if (w->o > INT32_MAX) return NO_ROOM;
    int32_t *d = desc + count * DESC_INTS;
    d[0] = e.payload_field;
    d[1] = (int32_t)start;
    d[2] = (int32_t)w->o;
    d[3] = (int32_t)e.ten_at;
    d[4] = (int32_t)e.ten_len;
    d[5] = (int32_t)(uint32_t)(e.obs >> 32);
    d[6] = (int32_t)(uint32_t)e.obs;
    count++;
    r.pos = ev_end;
  }
  if (version != limits[3] || count == 0) return NOT_PLAIN;
  return count;
}

static int typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, len, data, NULL, NULL) != napi_ok || type != want) return 0;
  return 1;
}

napi_value hwl_transcode_ingest(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  void *body, *table, *limits, *out, *desc, *keys, *owner = NULL;
  size_t body_len, table_len, limits_len, out_len, desc_len, keys_len, owner_len = 0;
  napi_valuetype owner_type = napi_undefined;
  schema_t s;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 7 || !typed(env, argv[0], napi_uint8_array, &body, &body_len) ||
      !typed(env, argv[1], napi_uint8_array, &table, &table_len) || !typed(env, argv[2], napi_int32_array, &limits, &limits_len) || limits_len != 4 ||
      !typed(env, argv[3], napi_uint8_array, &out, &out_len) || !typed(env, argv[4], napi_int32_array, &desc, &desc_len) ||
      !typed(env, argv[5], napi_uint8_array, &keys, &keys_len) || napi_typeof(env, argv[6], &owner_type) != napi_ok ||
      (owner_type != napi_null && !typed(env, argv[6], napi_uint8_array, &owner, &owner_len))) {
    napi_throw_type_error(env, "ERR_NATIVE_ARGS",
                          "transcodeIngest(body: Uint8Array, table: Uint8Array, limits: Int32Array(4), out: Uint8Array, desc: Int32Array, keys: Uint8Array, owner: Uint8Array | null)");
    return NULL;
  }
  /* A zero-length owner array may carry a NULL data pointer: give it a real one, so NULL means only "no check". */
  static const uint8_t no_bytes[1] = {0};
  if (owner_type != napi_null && owner == NULL) owner = (void *)no_bytes;
  if (!parse_table((const uint8_t *)table, table_len, &s)) {
    napi_throw_type_error(env, "ERR_NATIVE_ARGS", "transcodeIngest: malformed schema table");
    return NULL;
  }
  const int32_t *lim = (const int32_t *)limits;
  if (lim[0] < 0 || lim[1] < 0 || lim[2] < 0) {
    napi_throw_range_error(env, "ERR_NATIVE_ARGS", "transcodeIngest: limits must not be negative");
    return NULL;
  }
  writer_t w = {(uint8_t *)out, out_len, 0};
  int64_t n = transcode(&s, (const uint8_t *)body, body_len, lim, (const uint8_t *)owner, owner_len, &w, (int32_t *)desc, desc_len, (uint8_t *)keys, keys_len);
  napi_value result;
  if (napi_create_int32(env, (int32_t)n, &result) != napi_ok) return NULL;
  return result;
}
