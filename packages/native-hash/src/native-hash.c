/*
 * SHA-256 of (optional one-byte prefix || src[at .. at+len)) written into
 * out[off .. off+32), for the Merkle tree (RFC 9162 2.1.1: 0x00 leaf, 0x01
 * node prefixes), the chain link (spec: SHA-256(prev_hash || canonical)) and
 * the sequencer's event key (recordMsgId). The digest comes from the
 * OpenSSL that Node.js itself links and exports (SHA256, with the CPU's SHA
 * extensions where present): no second copy of SHA-256 is compiled here.
 *
 * Inputs are checked at this boundary (types, integer ranges, bounds);
 * anything out of range throws a RangeError/TypeError and writes nothing.
 */
#include <node_api.h>
#include <openssl/sha.h>

static int get_u8(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type type;
  void *p = NULL;
  size_t n = 0;
  if (napi_get_typedarray_info(env, v, &type, &n, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) return 0;
  *data = (uint8_t *)p;
  *len = n;
  return 1;
}

static int get_index(napi_env env, napi_value v, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0 && d <= 9007199254740991.0) || d != (double)(int64_t)d) return 0;
  *out = (int64_t)d;
  return 1;
}

/* prefixedSha256Into(prefix, src, at, len, out, off): prefix -1 = none. */
static napi_value prefixed_sha256_into(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6) {
    napi_throw_type_error(env, "ERR_NATIVE_HASH_ARGS", "prefixedSha256Into(prefix, src, at, len, out, off) takes 6 arguments");
    return NULL;
  }
  double prefix;
  uint8_t *src, *out;
  size_t src_len, out_len;
  int64_t at, len, off;
  if (napi_get_value_double(env, argv[0], &prefix) != napi_ok || !(prefix >= -1 && prefix <= 255) || prefix != (double)(int)prefix) {
    napi_throw_range_error(env, "ERR_NATIVE_HASH_ARGS", "prefix must be -1 or a byte");
    return NULL;
  }
  if (!get_u8(env, argv[1], &src, &src_len) || !get_u8(env, argv[4], &out, &out_len)) {
    napi_throw_type_error(env, "ERR_NATIVE_HASH_ARGS", "src and out must be Uint8Arrays");
    return NULL;
  }
  if (!get_index(env, argv[2], &at) || !get_index(env, argv[3], &len) || !get_index(env, argv[5], &off) ||
      (uint64_t)at + (uint64_t)len > src_len || (uint64_t)off + SHA256_DIGEST_LENGTH > out_len) {
    napi_throw_range_error(env, "ERR_NATIVE_HASH_ARGS", "at/len/off out of range");
    return NULL;
  }
  /* The low-level interface: OpenSSL 3's one-shot SHA256() fetches the
   * algorithm from its provider on every call, which cost as much as the
   * hash itself here. The digest is written after all input is read, so out
   * may overlap src. */
  SHA256_CTX ctx;
  uint8_t p = (uint8_t)prefix;
  SHA256_Init(&ctx);
  if (prefix >= 0) SHA256_Update(&ctx, &p, 1);
  SHA256_Update(&ctx, src + at, (size_t)len);
  SHA256_Final(out + off, &ctx);
  return NULL;
}

/* src/ingest-transcode.c and src/record-link.c: the sequencer's fast path, in the same addon (one build, one load). */
napi_value hwl_transcode_ingest(napi_env env, napi_callback_info info);
napi_value hwl_seal_link(napi_env env, napi_callback_info info);

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "prefixedSha256Into", NAPI_AUTO_LENGTH, prefixed_sha256_into, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "prefixedSha256Into", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "transcodeIngest", NAPI_AUTO_LENGTH, hwl_transcode_ingest, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "transcodeIngest", fn) != napi_ok) return NULL;
  /* transcodeIngest's contract version (2: the owner argument); the loader refuses a stale addon's transcoder. */
  napi_value version;
  if (napi_create_int32(env, 2, &version) != napi_ok || napi_set_named_property(env, exports, "transcodeIngestVersion", version) != napi_ok) return NULL;
  if (napi_create_function(env, "sealLink", NAPI_AUTO_LENGTH, hwl_seal_link, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "sealLink", fn) != napi_ok) return NULL;
  return exports;
}
