/*
 * Sanitizer harness for the addon's ingest transcoder
 * (packages/native-hash/src/ingest-transcode.c, included below), built and run
 * by ingest-transcode-asan.unit.test.ts with -fsanitize=address,undefined:
 * every message of a corpus of real ingest messages, mutated at random
 * (flipped, set, inserted, deleted bytes, truncation), is transcoded with the
 * real schema table into outputs of exact random sizes, each its own heap
 * block, so any read or write out of bounds is reported and aborts. Each
 * message is read with no source owner or with one (the node whose subject
 * carried it: services/sequencer/src/source-owner.ts), also in a block of
 * its exact size.
 *
 *   harness <dir with table.bin and corpus/N.bin> <iterations>
 */
#include HWL_TRANSCODE_C
#include <stdio.h>
#include <stdlib.h>

/* N-API stubs: the harness calls transcode() directly, never the N-API entry point. */
napi_status napi_get_cb_info(napi_env e, napi_callback_info i, size_t *a, napi_value *v, napi_value *t, void **d) {
  (void)e, (void)i, (void)a, (void)v, (void)t, (void)d;
  abort();
}
napi_status napi_typeof(napi_env e, napi_value v, napi_valuetype *r) {
  (void)e, (void)v, (void)r;
  abort();
}
napi_status napi_is_typedarray(napi_env e, napi_value v, bool *r) {
  (void)e, (void)v, (void)r;
  abort();
}
napi_status napi_get_typedarray_info(napi_env e, napi_value v, napi_typedarray_type *t, size_t *l, void **d, napi_value *b, size_t *o) {
  (void)e, (void)v, (void)t, (void)l, (void)d, (void)b, (void)o;
  abort();
}
napi_status napi_throw_type_error(napi_env e, const char *c, const char *m) {
  (void)e, (void)c, (void)m;
  abort();
}
napi_status napi_throw_range_error(napi_env e, const char *c, const char *m) {
  (void)e, (void)c, (void)m;
  abort();
}
napi_status napi_create_int32(napi_env e, int32_t v, napi_value *r) {
  (void)e, (void)v, (void)r;
  abort();
}

static uint64_t rs = 88172645463325252ull;
static uint64_t rnd(void) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return rs;
}

static uint8_t *load(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)len + 1);
  if (fread(b, 1, (size_t)len, f) != (size_t)len) abort();
  fclose(f);
  *n = (size_t)len;
  return b;
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  char path[4096];
  size_t tl;
  snprintf(path, sizeof path, "%s/table.bin", argv[1]);
  uint8_t *table = load(path, &tl);
  schema_t s;
  if (!table || !parse_table(table, tl, &s)) {
    puts("bad table");
    return 1;
  }
  enum { MAX_CORPUS = 512 };
  uint8_t *corpus[MAX_CORPUS];
  size_t corpusLen[MAX_CORPUS];
  int nc = 0;
  for (; nc < MAX_CORPUS; nc++) {
    snprintf(path, sizeof path, "%s/corpus/%d.bin", argv[1], nc);
    if (!(corpus[nc] = load(path, &corpusLen[nc]))) break;
  }
  if (nc == 0) return 1;
  long iterations = atol(argv[2]);
  long results[3] = {0, 0, 0};
  for (long it = 0; it < iterations; it++) {
    int c = (int)(rnd() % (uint64_t)nc);
    size_t n = corpusLen[c], cap = n + 64;
    uint8_t *tmp = malloc(cap);
    memcpy(tmp, corpus[c], n);
    for (int e = (int)(rnd() % 4); e > 0 && n > 0; e--) {
      size_t at = rnd() % n;
      switch (rnd() % 6) {
        case 0: tmp[at] ^= (uint8_t)(1u << (rnd() % 8)); break;
        case 1: tmp[at] = (uint8_t)rnd(); break;
        case 2:
          if (n + 1 < cap) {
            memmove(tmp + at + 1, tmp + at, n - at);
            tmp[at] = (uint8_t)rnd();
            n++;
          }
          break;
        case 3: memmove(tmp + at, tmp + at + 1, n - at - 1), n--; break;
        case 4: n = at; break;
        default: {
          static const uint8_t interesting[] = {0x00, 0x7f, 0x80, 0xff, 0x01, 0x08, 0x12, 0x62, 0x0a, 0x18};
          tmp[at] = interesting[rnd() % sizeof interesting];
        }
      }
    }
    /* The message in a block of its exact size: a read past it is reported. */
    uint8_t *body = malloc(n ? n : 1);
    memcpy(body, tmp, n);
    free(tmp);
    /* Room for a few hundred events, or a random few bytes. */
    size_t outLen = rnd() % 3 == 0 ? rnd() % 600 : 20000;
    size_t descLen = rnd() % 4 == 0 ? rnd() % 40 : 7 * 256;
    size_t keysLen = rnd() % 4 == 0 ? rnd() % 150 : 24 * 256;
    uint8_t *out = malloc(outLen ? outLen : 1);
    int32_t *desc = malloc((descLen ? descLen : 1) * sizeof(int32_t));
    uint8_t *keys = malloc(keysLen ? keysLen : 1);
    int32_t limits[4] = {rnd() % 4 == 0 ? (int32_t)(rnd() % 8) : 256, rnd() % 4 == 0 ? (int32_t)(rnd() % 8) : 4096, rnd() % 5 == 0 ? (int32_t)(rnd() % 4) : 10000, 1};
    /* No owner (no check), or one around the corpus' sources src/node-0..4: the same, a prefix, longer, empty. */
    static const char *const owners[] = {"src/node-0", "src/node-1", "src/node-4", "src/node", "src/node-10", "src/", ""};
    const char *own = rnd() % 2 == 0 ? NULL : owners[rnd() % (sizeof owners / sizeof owners[0])];
    size_t ownerLen = own ? strlen(own) : 0;
    uint8_t *owner = own ? malloc(ownerLen ? ownerLen : 1) : NULL;
    if (owner) memcpy(owner, own, ownerLen);
    writer_t w = {out, outLen, 0};
    int64_t r = transcode(&s, body, n, limits, owner, ownerLen, &w, desc, descLen, keys, keysLen);
    results[r == NOT_PLAIN ? 0 : r == NO_ROOM ? 1 : 2]++;
    free(body), free(out), free(desc), free(keys), free(owner);
  }
  printf("not plain %ld, no room %ld, transcoded %ld\n", results[0], results[1], results[2]);
  return 0;
}
