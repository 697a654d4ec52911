// N-API entry points of blyan_kernels (src/engine/kernels/native.ts is the only caller).
// Calls are synchronous: the calling JS thread is worker 0 of the pool and returns when every output
// is written. Arguments are checked again here (sizes against typed-array lengths) so a wrong call
// throws instead of reading out of bounds.
#include <node_api.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define MAX_MANY 16

typedef struct {
  kpool *pool;
  const kisa *isa;
  float *scratch, *scratch2;
  size_t scratch_cap, scratch2_cap;  // floats
  _Atomic int busy;
} kstate;

// ---- CPU dispatch ----

static int has_avx512(void) {
#ifdef BLYAN_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("f16c");
#else
  return 0;
#endif
}

static int has_avx2(void) {
#ifdef BLYAN_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
  return 0;
#endif
}

static const kisa *isa_by_name(const char *name) {
#ifdef BLYAN_X86
  if (!strcmp(name, "avx512")) return has_avx512() ? &kisa_avx512 : NULL;
  if (!strcmp(name, "avx2")) return has_avx2() ? &kisa_avx2 : NULL;
#endif
  if (!strcmp(name, "scalar")) return &kisa_scalar;
  if (!strcmp(name, "best") || !strcmp(name, "")) {
#ifdef BLYAN_X86
    if (has_avx512()) return &kisa_avx512;
    if (has_avx2()) return &kisa_avx2;
#endif
    return &kisa_scalar;
  }
  return NULL;
}

// ---- argument helpers ----

#define CHECK(call) \
  do { \
    if ((call) != napi_ok) { \
      napi_throw_error(env, "ENGINE_BAD_INPUT", "blyan_kernels: N-API call failed: " #call); \
      return NULL; \
    } \
  } while (0)

#define FAIL(msg) \
  do { \
    napi_throw_error(env, "ENGINE_BAD_INPUT", "blyan_kernels: " msg); \
    return NULL; \
  } while (0)

static int get_f32(napi_env env, napi_value v, float **p, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, len, &data, NULL, NULL) != napi_ok || type != napi_float32_array) return 0;
  *p = data;
  return 1;
}

static int get_bytes(napi_env env, napi_value v, const uint8_t **p, size_t *bytes) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  size_t len;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, NULL, NULL) != napi_ok) return 0;
  if (type != napi_uint8_array && type != napi_int8_array && type != napi_uint8_clamped_array) return 0;
  *p = data;
  *bytes = len;
  return 1;
}

static int get_int(napi_env env, napi_value v, int *out) {
  int32_t i;
  if (napi_get_value_int32(env, v, &i) != napi_ok || i < 0) return 0;
  *out = i;
  return 1;
}

static int is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && (t == napi_null || t == napi_undefined);
}

/** data, dtype, rows, cols, scales → kmat, with the byte length and scale count checked. */
static int get_mat(napi_env env, napi_value *a, kmat *m) {
  size_t bytes;
  if (!get_bytes(env, a[0], &m->data, &bytes)) return 0;
  if (!get_int(env, a[1], &m->dtype) || m->dtype > DT_I8) return 0;
  if (!get_int(env, a[2], &m->rows) || !get_int(env, a[3], &m->cols)) return 0;
  if ((size_t)m->rows * (size_t)m->cols * dtype_bytes(m->dtype) > bytes) return 0;
  m->scales = NULL;
  if (m->dtype == DT_I8) {
    float *s;
    size_t n;
    if (!get_f32(env, a[4], &s, &n) || n < (size_t)m->rows) return 0;
    m->scales = s;
  }
  return 1;
}

static kstate *get_state(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) return NULL;
  kstate *s = p;
  return s->pool ? s : NULL;
}

static int enter(kstate *s) {
  int expected = 0;
  return atomic_compare_exchange_strong(&s->busy, &expected, 1);
}

static void leave(kstate *s) { atomic_store(&s->busy, 0); }

static int ensure_scratch(kstate *s, size_t floats) {
  if (floats <= s->scratch_cap) return 1;
  size_t cap = floats + floats / 4 + 1024;
  float *p = NULL;
  if (posix_memalign((void **)&p, 64, cap * sizeof(float)) != 0) return 0;
  free(s->scratch);
  s->scratch = p;
  s->scratch_cap = cap;
  return 1;
}

static int ensure_scratch2(kstate *s, size_t floats) {
  if (floats <= s->scratch2_cap) return 1;
  size_t cap = floats + floats / 4 + 1024;
  float *p = NULL;
  if (posix_memalign((void **)&p, 64, cap * sizeof(float)) != 0) return 0;
  free(s->scratch2);
  s->scratch2 = p;
  s->scratch2_cap = cap;
  return 1;
}

// Below this many weight bytes a call runs on the calling thread alone: waking a worker costs more.
#define SMALL_BYTES (96 * 1024)

static int threads_for(const kstate *s, size_t bytes, size_t tokens) {
  return bytes * (tokens ? tokens : 1) < SMALL_BYTES ? 1 : pool_size(s->pool);
}

// ---- tasks ----

// Work split: thread w owns a contiguous share of the rows (split_rows) and takes it front to back in
// blocks, one sequential stream; a thread that runs out takes blocks from the back of another thread's
// share. So a thread that loses its core for a while (other processes on a small machine) does not hold
// the others up, and in the normal case every thread streams one contiguous range. Which thread computes
// a row never changes the row's result: each output is one thread's fixed sequence of operations.
#define MAX_SHARES 256

typedef struct {
  _Atomic uint64_t share[MAX_SHARES];  // (hi << 32) | lo of each thread's remaining rows
  int n, block;
} rowq;

static inline uint64_t pack(uint32_t lo, uint32_t hi) { return ((uint64_t)hi << 32) | lo; }

/** block: rows per take, a multiple of 32 (blocks start on 32-row boundaries: the FFN de-interleaves h per 32). */
static void rowq_init(rowq *q, int total, int n, int block) {
  q->n = n;
  q->block = block < 32 ? 32 : (block + 31) & ~31;
  for (int w = 0; w < n; w++) {
    int a, b;
    split_rows(total, w, n, 32, &a, &b);
    atomic_store_explicit(&q->share[w], pack((uint32_t)a, (uint32_t)b), memory_order_relaxed);
  }
}

/** The next rows [*a, *b) for thread w, or 0 when no rows are left anywhere. */
static int rowq_take(rowq *q, int w, int *a, int *b) {
  uint64_t v = atomic_load(&q->share[w]);
  for (;;) {  // own share, from the front
    const uint32_t lo = (uint32_t)v, hi = (uint32_t)(v >> 32);
    if (lo >= hi) break;
    const uint32_t nlo = lo + (uint32_t)q->block < hi ? lo + (uint32_t)q->block : hi;
    if (atomic_compare_exchange_weak(&q->share[w], &v, pack(nlo, hi))) {
      *a = (int)lo;
      *b = (int)nlo;
      return 1;
    }
  }
  for (int k = 1; k < q->n; k++) {  // others' shares, from the back
    _Atomic uint64_t *sh = &q->share[(w + k) % q->n];
    v = atomic_load(sh);
    for (;;) {
      const uint32_t lo = (uint32_t)v, hi = (uint32_t)(v >> 32);
      if (lo >= hi) break;
      uint32_t nhi = hi > (uint32_t)q->block ? ((hi - (uint32_t)q->block + 31) & ~31u) : 0;
      if (nhi >= hi) nhi = (hi - 1) & ~31u;
      if (nhi < lo) nhi = lo;
      if (atomic_compare_exchange_weak(sh, &v, pack(lo, nhi))) {
        *a = (int)nhi;
        *b = (int)hi;
        return 1;
      }
    }
  }
  return 0;
}

/** Rows per take: 32 for decode; for prefill a panel that stays in L2 (the kernels tile within it). */
static int take_block(int tokens, size_t row_bytes) {
  if (tokens <= 1) return 32;
  const size_t rows = (256u * 1024u) / (row_bytes ? row_bytes : 1);
  return rows < 32 ? 32 : (int)rows;
}

typedef struct {
  const kisa *isa;
  int count;
  rowq q;
  kmat m[MAX_MANY];
  float *out[MAX_MANY];
  const float *xr[MAX_MANY];  // decode layout per matrix (tokens == 1), or NULL
  const float *x;
  const float *xd;
  int tokens;
  int total_rows;
} mm_task;

static void mm_run(void *ctx, int w, int n) {
  mm_task *t = ctx;
  int a, b;
  while (rowq_take(&t->q, w, &a, &b)) {
    int base = 0;
    for (int i = 0; i < t->count && base < b; i++) {
      const int rows = t->m[i].rows;
      const int lo = a > base ? a - base : 0;
      const int hi = b - base < rows ? b - base : rows;
      if (lo < hi) t->isa->rows(&t->m[i], t->x, t->xd, t->xr[i], t->tokens, lo, hi, t->out[i], (size_t)rows);
      base += rows;
    }
  }
}

typedef struct {
  const kisa *isa;
  kmat gate, up, down;
  const float *x, *xd;
  const float *xr_gate, *xr_up;  // decode layouts of x for gate and up (tokens == 1), or NULL
  float *out;
  const float *scale;
  float *g, *u, *gd, *y;  // gd: de-interleaved h when down is bf16 (else NULL)
  float *gr;              // h in the decode layout of down (tokens == 1), or NULL; pre-zeroed
  int s_down;             // decode_shift(down) when gr is set
  int tokens;
  rowq q1, q2;            // inner rows (gate, up), then output rows (down)
  _Atomic int h_done;     // rows of h finished; down may start when all I are
} ffn_task;

static void ffn_run(void *ctx, int w, int n) {
  ffn_task *t = ctx;
  const int I = t->gate.rows, D = t->down.rows;
  int a, b;
  // blocks are whole 32-row groups, so each thread de-interleaves its own blocks of h
  while (rowq_take(&t->q1, w, &a, &b)) {
    t->isa->rows(&t->gate, t->x, t->xd, t->xr_gate, t->tokens, a, b, t->g, (size_t)I);
    t->isa->rows(&t->up, t->x, t->xd, t->xr_up, t->tokens, a, b, t->u, (size_t)I);
    for (int k = 0; k < t->tokens; k++) {
      const size_t o = (size_t)k * I + a;
      t->isa->swiglu(t->g + o, t->g + o, t->u + o, (size_t)(b - a));
      if (t->gd) deinterleave32(t->gd + (size_t)k * pad32((size_t)I) + a, t->g + o, (size_t)(b - a));
    }
    if (t->gr) {
      const int deint = t->down.dtype == DT_BF16;
      for (int i = a; i < b; i++) xr_put(t->gr, (size_t)i + (size_t)t->s_down, t->g[i], deint);
    }
    atomic_fetch_add_explicit(&t->h_done, b - a, memory_order_release);
  }
  // down needs all of h: wait for rows other threads are still finishing (never for unstarted ones:
  // rows nobody took were taken above)
  for (long i = 1; atomic_load_explicit(&t->h_done, memory_order_acquire) < I; i++) {
    cpu_relax();
    if ((i & 4095) == 0) sched_yield();
  }
  while (rowq_take(&t->q2, w, &a, &b)) {
    t->isa->rows(&t->down, t->g, t->gd, t->gr, t->tokens, a, b, t->y, (size_t)D);
    for (int k = 0; k < t->tokens; k++) {
      const float s = t->scale ? t->scale[k] : 1.0f;
      float *o = t->out + (size_t)k * D;
      const float *y = t->y + (size_t)k * D;
      for (int r = a; r < b; r++) o[r] = o[r] + s * y[r];
    }
  }
}

/** Carves 64-byte aligned regions of `floats` floats out of the scratch (ensure_scratch first). */
static float *carve(float **cursor, size_t floats) {
  float *p = *cursor;
  *cursor += (floats + 15) & ~(size_t)15;
  return p;
}

static size_t carve_size(size_t floats) { return (floats + 15) & ~(size_t)15; }

/** x de-interleaved token by token into xd (row stride pad32(cols)). */
static void deinterleave_tokens(float *xd, const float *x, int tokens, int cols) {
  for (int k = 0; k < tokens; k++) deinterleave32(xd + (size_t)k * pad32((size_t)cols), x + (size_t)k * cols, (size_t)cols);
}

/** Decode layouts of x for the matrices that have one (tokens == 1), in the second scratch buffer. */
static int prepare_xr(kstate *s, mm_task *t) {
  for (int i = 0; i < t->count; i++) t->xr[i] = NULL;
  if (!s->isa->wants_xr || t->tokens != 1) return 1;
  size_t need = 0;
  for (int i = 0; i < t->count; i++) {
    const int sh = decode_shift(&t->m[i]);
    if (sh >= 0) need += carve_size(xr_len(t->m[i].cols, sh));
  }
  if (need == 0) return 1;
  if (!ensure_scratch2(s, need)) return 0;
  float *cur = s->scratch2;
  for (int i = 0; i < t->count; i++) {
    const int sh = decode_shift(&t->m[i]);
    if (sh < 0) continue;
    float *xr = carve(&cur, xr_len(t->m[i].cols, sh));
    build_xr(xr, t->x, t->m[i].cols, sh, t->m[i].dtype == DT_BF16);
    t->xr[i] = xr;
  }
  return 1;
}

static void run_task(kstate *s, task_fn fn, void *ctx, int threads) {
  if (threads <= 1) fn(ctx, 0, 1);
  else pool_run(s->pool, fn, ctx);
}

// ---- exported functions ----

static void state_finalize(napi_env env, void *data, void *hint) {
  kstate *s = data;
  if (s->pool) pool_destroy(s->pool);
  free(s->scratch);
  free(s->scratch2);
  free(s);
}

// create(threads, spinMicros, isa) → handle
static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  int threads, spin_us;
  char name[32] = "";
  size_t nlen;
  if (argc < 3 || !get_int(env, a[0], &threads) || !get_int(env, a[1], &spin_us)) FAIL("create(threads, spinMicros, isa)");
  if (napi_get_value_string_utf8(env, a[2], name, sizeof name, &nlen) != napi_ok) FAIL("create: isa must be a string");
  const kisa *isa = isa_by_name(name);
  if (!isa) FAIL("create: that instruction set is unknown or not supported by this CPU");
  if (threads < 1) threads = 1;
  if (threads > 256) threads = 256;
  kstate *s = calloc(1, sizeof *s);
  if (!s) FAIL("create: out of memory");
  s->isa = isa;
  s->pool = pool_create(threads, (long)spin_us * 1000L);
  if (!s->pool) {
    free(s);
    FAIL("create: could not start the thread pool");
  }
  napi_value ext;
  CHECK(napi_create_external(env, s, state_finalize, NULL, &ext));
  return ext;
}

static napi_value js_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  void *p = NULL;
  if (argc < 1 || napi_get_value_external(env, a[0], &p) != napi_ok || !p) FAIL("destroy(handle)");
  kstate *s = p;
  if (!enter(s)) FAIL("destroy: the kernels are in use");
  if (s->pool) pool_destroy(s->pool);
  s->pool = NULL;
  free(s->scratch);
  free(s->scratch2);
  s->scratch = s->scratch2 = NULL;
  s->scratch_cap = s->scratch2_cap = 0;
  leave(s);
  return NULL;
}

static napi_value js_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  kstate *s = argc < 1 ? NULL : get_state(env, a[0]);
  if (!s) FAIL("info(handle): closed or not a handle");
  napi_value o, v;
  CHECK(napi_create_object(env, &o));
  CHECK(napi_create_int32(env, pool_size(s->pool), &v));
  CHECK(napi_set_named_property(env, o, "threads", v));
  CHECK(napi_create_string_utf8(env, s->isa->name, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, o, "isa", v));
  return o;
}

// cpu() → { avx512, avx2 }: what this CPU (and OS) can run.
static napi_value js_cpu(napi_env env, napi_callback_info info) {
  napi_value o, v;
  CHECK(napi_create_object(env, &o));
  CHECK(napi_get_boolean(env, has_avx512(), &v));
  CHECK(napi_set_named_property(env, o, "avx512", v));
  CHECK(napi_get_boolean(env, has_avx2(), &v));
  CHECK(napi_set_named_property(env, o, "avx2", v));
  return o;
}

// matmul(h, out, data, dtype, rows, cols, scales, x, tokens)
static napi_value js_matmul(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value a[9];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 9) FAIL("matmul: 9 arguments expected");
  kstate *s = get_state(env, a[0]);
  if (!s) FAIL("matmul: closed or not a handle");
  mm_task t;
  t.isa = s->isa;
  t.count = 1;
  size_t outn, xn;
  int tokens;
  if (!get_f32(env, a[1], &t.out[0], &outn)) FAIL("matmul: out must be a Float32Array");
  if (!get_mat(env, a + 2, &t.m[0])) FAIL("matmul: bad weight matrix (data, dtype, rows, cols, scales)");
  float *x;
  if (!get_f32(env, a[7], &x, &xn)) FAIL("matmul: x must be a Float32Array");
  if (!get_int(env, a[8], &tokens)) FAIL("matmul: tokens must be an integer ≥ 0");
  if (outn < (size_t)tokens * t.m[0].rows || xn < (size_t)tokens * t.m[0].cols) FAIL("matmul: out or x too short");
  t.x = x;
  t.xd = NULL;
  t.tokens = tokens;
  t.total_rows = t.m[0].rows;
  if (tokens == 0 || t.total_rows == 0) return NULL;
  if (!enter(s)) FAIL("matmul: the kernels are in use by another call");
  if (s->isa->wants_xd && t.m[0].dtype == DT_BF16) {
    const size_t need = carve_size((size_t)tokens * pad32((size_t)t.m[0].cols));
    if (!ensure_scratch(s, need)) {
      leave(s);
      FAIL("matmul: out of memory");
    }
    deinterleave_tokens(s->scratch, x, tokens, t.m[0].cols);
    t.xd = s->scratch;
  }
  if (!prepare_xr(s, &t)) {
    leave(s);
    FAIL("matmul: out of memory");
  }
  const int nt = threads_for(s, (size_t)t.m[0].rows * t.m[0].cols * dtype_bytes(t.m[0].dtype), (size_t)tokens);
  rowq_init(&t.q, t.total_rows, nt, take_block(tokens, (size_t)t.m[0].cols * dtype_bytes(t.m[0].dtype)));
  run_task(s, mm_run, &t, nt);
  leave(s);
  return NULL;
}

// matmulMany(h, [out, data, dtype, rows, cols, scales, ...], x, tokens)
static napi_value js_matmul_many(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 4) FAIL("matmulMany: 4 arguments expected");
  kstate *s = get_state(env, a[0]);
  if (!s) FAIL("matmulMany: closed or not a handle");
  uint32_t len;
  if (napi_get_array_length(env, a[1], &len) != napi_ok || len % 6 != 0 || len / 6 > MAX_MANY) FAIL("matmulMany: bad list");
  mm_task t;
  t.isa = s->isa;
  t.count = (int)(len / 6);
  float *x;
  size_t xn;
  int tokens;
  if (!get_f32(env, a[2], &x, &xn)) FAIL("matmulMany: x must be a Float32Array");
  if (!get_int(env, a[3], &tokens)) FAIL("matmulMany: tokens must be an integer ≥ 0");
  t.x = x;
  t.xd = NULL;
  t.tokens = tokens;
  t.total_rows = 0;
  size_t bytes = 0;
  int any_bf16 = 0;
  for (int i = 0; i < t.count; i++) {
    napi_value e[6];
    for (uint32_t k = 0; k < 6; k++) CHECK(napi_get_element(env, a[1], (uint32_t)i * 6 + k, &e[k]));
    size_t outn;
    if (!get_f32(env, e[0], &t.out[i], &outn)) FAIL("matmulMany: out must be a Float32Array");
    if (!get_mat(env, e + 1, &t.m[i])) FAIL("matmulMany: bad weight matrix");
    if (t.m[i].cols != t.m[0].cols) FAIL("matmulMany: matrices must share cols");
    if (outn < (size_t)tokens * t.m[i].rows || xn < (size_t)tokens * t.m[i].cols) FAIL("matmulMany: out or x too short");
    t.total_rows += t.m[i].rows;
    bytes += (size_t)t.m[i].rows * t.m[i].cols * dtype_bytes(t.m[i].dtype);
    any_bf16 |= t.m[i].dtype == DT_BF16;
  }
  if (tokens == 0 || t.total_rows == 0) return NULL;
  if (!enter(s)) FAIL("matmulMany: the kernels are in use by another call");
  if (s->isa->wants_xd && any_bf16) {
    const size_t need = carve_size((size_t)tokens * pad32((size_t)t.m[0].cols));
    if (!ensure_scratch(s, need)) {
      leave(s);
      FAIL("matmulMany: out of memory");
    }
    deinterleave_tokens(s->scratch, x, tokens, t.m[0].cols);
    t.xd = s->scratch;
  }
  if (!prepare_xr(s, &t)) {
    leave(s);
    FAIL("matmulMany: out of memory");
  }
  const int nt = threads_for(s, bytes, (size_t)tokens);
  rowq_init(&t.q, t.total_rows, nt, take_block(tokens, (size_t)t.m[0].cols * 4));
  run_task(s, mm_run, &t, nt);
  leave(s);
  return NULL;
}

// swiglu(h, out, gate, up, n)
static napi_value js_swiglu(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 5) FAIL("swiglu: 5 arguments expected");
  kstate *s = get_state(env, a[0]);
  if (!s) FAIL("swiglu: closed or not a handle");
  float *o, *g, *u;
  size_t on, gn, un;
  int n;
  if (!get_f32(env, a[1], &o, &on) || !get_f32(env, a[2], &g, &gn) || !get_f32(env, a[3], &u, &un)) FAIL("swiglu: Float32Arrays expected");
  if (!get_int(env, a[4], &n) || on < (size_t)n || gn < (size_t)n || un < (size_t)n) FAIL("swiglu: n too large");
  s->isa->swiglu(o, g, u, (size_t)n);
  return NULL;
}

// expertFfn(h, out, gData, gDt, gRows, gCols, gScales, uData, uDt, uRows, uCols, uScales, dData, dDt, dRows, dCols, dScales, x, tokens, scale)
static napi_value js_expert_ffn(napi_env env, napi_callback_info info) {
  size_t argc = 20;
  napi_value a[20];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 20) FAIL("expertFfn: 20 arguments expected");
  kstate *s = get_state(env, a[0]);
  if (!s) FAIL("expertFfn: closed or not a handle");
  ffn_task t;
  memset(&t, 0, sizeof t);
  t.isa = s->isa;
  size_t outn, xn;
  float *out, *x;
  int tokens;
  if (!get_f32(env, a[1], &out, &outn)) FAIL("expertFfn: out must be a Float32Array");
  if (!get_mat(env, a + 2, &t.gate) || !get_mat(env, a + 7, &t.up) || !get_mat(env, a + 12, &t.down)) FAIL("expertFfn: bad weight matrix");
  if (!get_f32(env, a[17], &x, &xn)) FAIL("expertFfn: x must be a Float32Array");
  if (!get_int(env, a[18], &tokens)) FAIL("expertFfn: tokens must be an integer ≥ 0");
  const int I = t.gate.rows, H = t.gate.cols, D = t.down.rows;
  if (t.up.rows != I || t.up.cols != H || t.down.cols != I) FAIL("expertFfn: gate, up and down shapes do not fit together");
  if (xn < (size_t)tokens * H || outn < (size_t)tokens * D) FAIL("expertFfn: out or x too short");
  if (!is_nullish(env, a[19])) {
    float *sc;
    size_t sn;
    if (!get_f32(env, a[19], &sc, &sn) || sn < (size_t)tokens) FAIL("expertFfn: scale must be a Float32Array of tokens values");
    t.scale = sc;
  }
  if (tokens == 0 || D == 0) return NULL;
  if (!enter(s)) FAIL("expertFfn: the kernels are in use by another call");
  const size_t ti = (size_t)tokens * I, td = (size_t)tokens * D;
  const int xd_gate = s->isa->wants_xd && (t.gate.dtype == DT_BF16 || t.up.dtype == DT_BF16);
  const int xd_down = s->isa->wants_xd && t.down.dtype == DT_BF16;
  const size_t nxd = xd_gate ? (size_t)tokens * pad32((size_t)H) : 0, ngd = xd_down ? (size_t)tokens * pad32((size_t)I) : 0;
  if (!ensure_scratch(s, carve_size(nxd) + 2 * carve_size(ti) + carve_size(ngd) + carve_size(td))) {
    leave(s);
    FAIL("expertFfn: out of memory");
  }
  float *cur = s->scratch;
  float *xd = carve(&cur, nxd);
  t.g = carve(&cur, ti);
  t.u = carve(&cur, ti);
  float *gd = carve(&cur, ngd);
  t.y = carve(&cur, td);
  t.xd = xd_gate ? xd : NULL;
  t.gd = xd_down ? gd : NULL;
  if (xd_gate) deinterleave_tokens(xd, x, tokens, H);
  // decode layouts (tokens == 1): x for gate and up, and the zeroed h buffer for down
  const int sg = s->isa->wants_xr && tokens == 1 ? decode_shift(&t.gate) : -1;
  const int su = s->isa->wants_xr && tokens == 1 ? decode_shift(&t.up) : -1;
  const int sd = s->isa->wants_xr && tokens == 1 ? decode_shift(&t.down) : -1;
  const size_t nxg = sg >= 0 ? carve_size(xr_len(H, sg)) : 0, nxu = su >= 0 ? carve_size(xr_len(H, su)) : 0;
  const size_t nxdn = sd >= 0 ? carve_size(xr_len(I, sd)) : 0;
  if (!ensure_scratch2(s, nxg + nxu + nxdn + 16)) {
    leave(s);
    FAIL("expertFfn: out of memory");
  }
  float *cur2 = s->scratch2;
  t.xr_gate = t.xr_up = NULL;
  t.gr = NULL;
  if (sg >= 0) {
    float *xr = carve(&cur2, nxg);
    build_xr(xr, x, H, sg, t.gate.dtype == DT_BF16);
    t.xr_gate = xr;
  }
  if (su >= 0) {
    float *xr = carve(&cur2, nxu);
    build_xr(xr, x, H, su, t.up.dtype == DT_BF16);
    t.xr_up = xr;
  }
  if (sd >= 0) {
    t.gr = carve(&cur2, nxdn);
    memset(t.gr, 0, nxdn * sizeof(float));
    t.s_down = sd;
  }
  t.x = x;
  t.out = out;
  t.tokens = tokens;
  const size_t bytes = (size_t)I * H * (dtype_bytes(t.gate.dtype) + dtype_bytes(t.up.dtype)) + (size_t)D * I * dtype_bytes(t.down.dtype);
  const int nt = threads_for(s, bytes, (size_t)tokens);
  rowq_init(&t.q1, I, nt, take_block(tokens, (size_t)H * 2 * (dtype_bytes(t.gate.dtype) + dtype_bytes(t.up.dtype)) / 2));
  rowq_init(&t.q2, D, nt, take_block(tokens, (size_t)I * dtype_bytes(t.down.dtype)));
  atomic_store(&t.h_done, 0);
  run_task(s, ffn_run, &t, nt);
  leave(s);
  return NULL;
}

// The training GEMM's entry points (gemm_addon.c).
int gemm_define(napi_env env, napi_value exports);

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"cpu", NULL, js_cpu, NULL, NULL, NULL, napi_default, NULL},
      {"create", NULL, js_create, NULL, NULL, NULL, napi_default, NULL},
      {"destroy", NULL, js_destroy, NULL, NULL, NULL, napi_default, NULL},
      {"info", NULL, js_info, NULL, NULL, NULL, napi_default, NULL},
      {"matmul", NULL, js_matmul, NULL, NULL, NULL, napi_default, NULL},
      {"matmulMany", NULL, js_matmul_many, NULL, NULL, NULL, napi_default, NULL},
      {"swiglu", NULL, js_swiglu, NULL, NULL, NULL, napi_default, NULL},
      {"expertFfn", NULL, js_expert_ffn, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  if (!gemm_define(env, exports)) return NULL;
  return exports;
}
