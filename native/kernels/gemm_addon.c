// N-API entry points of the training GEMM (gemm.h), registered on the blyan_kernels addon by addon.c.
// src/learning/gemm/native.ts is the only caller; it checks every argument first, and they are checked
// again here (sizes against typed-array lengths, C not overlapping A or B) so that a wrong call throws
// instead of touching memory out of bounds.
#include <math.h>
#include <node_api.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

typedef struct {
  gemm_ctx *ctx;
  _Atomic int busy;
} gstate;

#define GCHECK(call)                                                                          \
  do {                                                                                        \
    if ((call) != napi_ok) {                                                                  \
      napi_throw_error(env, "ENGINE_BAD_INPUT", "blyan_kernels gemm: N-API call failed: " #call); \
      return NULL;                                                                            \
    }                                                                                         \
  } while (0)

#define GFAIL(msg)                                                        \
  do {                                                                    \
    napi_throw_error(env, "ENGINE_BAD_INPUT", "blyan_kernels gemm: " msg); \
    return NULL;                                                          \
  } while (0)

static const gemm_isa *gemm_isa_by_name(const char *name) {
#ifdef BLYAN_X86
  __builtin_cpu_init();
  const int avx512 = __builtin_cpu_supports("avx512f");
  const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (!strcmp(name, "avx512")) return avx512 ? &gemm_isa_avx512 : NULL;
  if (!strcmp(name, "avx2")) return avx2 ? &gemm_isa_avx2 : NULL;
  if (!strcmp(name, "best") || !strcmp(name, "")) return avx512 ? &gemm_isa_avx512 : avx2 ? &gemm_isa_avx2 : &gemm_isa_scalar;
#else
  if (!strcmp(name, "best") || !strcmp(name, "")) return &gemm_isa_scalar;
#endif
  if (!strcmp(name, "scalar")) return &gemm_isa_scalar;
  return NULL;
}

static int g_int(napi_env env, napi_value v, int *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 2147483647.0 || d != floor(d)) return 0;
  *out = (int)d;
  return 1;
}

static int g_size(napi_env env, napi_value v, size_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 4503599627370496.0 || d != floor(d)) return 0;
  *out = (size_t)d;
  return 1;
}

static int g_bool(napi_env env, napi_value v, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  *out = b;
  return 1;
}

static int g_f32(napi_env env, napi_value v, float **p, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, len, &data, NULL, NULL) != napi_ok || type != napi_float32_array) return 0;
  *p = data;
  return 1;
}

/** Floats a batch touches: (count-1)·stride + rows·cols, or 0 when empty; SIZE_MAX when it overflows. */
static size_t extent(int count, size_t stride, size_t rows, size_t cols) {
  const size_t one = rows * cols;
  if (count == 0 || one == 0) return 0;
  if (count > 1 && stride > (SIZE_MAX / 8) / (size_t)(count - 1)) return SIZE_MAX;
  return (size_t)(count - 1) * stride + one;
}

static int overlaps(const float *a, size_t an, const float *b, size_t bn) {
  return an > 0 && bn > 0 && a < b + bn && b < a + an;
}

static void gstate_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  gstate *s = data;
  gemm_ctx_destroy(s->ctx);
  free(s);
}

static gstate *g_state(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) return NULL;
  gstate *s = p;
  return s->ctx ? s : NULL;
}

// gemmCreate(threads, spinMicros, isa) → handle
static napi_value js_gemm_create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3];
  GCHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  int threads, spin_us;
  char name[32] = "";
  size_t nlen;
  if (argc < 3 || !g_int(env, a[0], &threads) || !g_int(env, a[1], &spin_us)) GFAIL("gemmCreate(threads, spinMicros, isa)");
  if (napi_get_value_string_utf8(env, a[2], name, sizeof name, &nlen) != napi_ok) GFAIL("gemmCreate: isa must be a string");
  const gemm_isa *isa = gemm_isa_by_name(name);
  if (!isa) GFAIL("gemmCreate: that instruction set is unknown or not supported by this CPU");
  if (threads < 1) threads = 1;
  if (threads > 256) threads = 256;
  gstate *s = calloc(1, sizeof *s);
  if (!s) GFAIL("gemmCreate: out of memory");
  s->ctx = gemm_ctx_create(threads, (long)spin_us * 1000L, isa);
  if (!s->ctx) {
    free(s);
    GFAIL("gemmCreate: could not start the thread pool or allocate buffers");
  }
  napi_value ext;
  GCHECK(napi_create_external(env, s, gstate_finalize, NULL, &ext));
  return ext;
}

static napi_value js_gemm_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  GCHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  void *p = NULL;
  if (argc < 1 || napi_get_value_external(env, a[0], &p) != napi_ok || !p) GFAIL("gemmDestroy(handle)");
  gstate *s = p;
  int expected = 0;
  if (!atomic_compare_exchange_strong(&s->busy, &expected, 1)) GFAIL("gemmDestroy: in use");
  gemm_ctx_destroy(s->ctx);
  s->ctx = NULL;
  atomic_store(&s->busy, 0);
  return NULL;
}

// gemmInfo(handle) → { threads, isa, mr, nr, kc }
static napi_value js_gemm_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  GCHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  gstate *s = argc < 1 ? NULL : g_state(env, a[0]);
  if (!s) GFAIL("gemmInfo(handle): closed or not a handle");
  const gemm_isa *isa = gemm_ctx_isa(s->ctx);
  napi_value o, v;
  GCHECK(napi_create_object(env, &o));
  GCHECK(napi_create_int32(env, gemm_ctx_threads(s->ctx), &v));
  GCHECK(napi_set_named_property(env, o, "threads", v));
  GCHECK(napi_create_string_utf8(env, isa->name, NAPI_AUTO_LENGTH, &v));
  GCHECK(napi_set_named_property(env, o, "isa", v));
  GCHECK(napi_create_int32(env, isa->kc, &v));
  GCHECK(napi_set_named_property(env, o, "kc", v));
  return o;
}

// sgemm(handle, count, transA, transB, M, N, K, A, strideA, B, strideB, C, strideC, accumulate)
static napi_value js_sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value a[14];
  GCHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 14) GFAIL("sgemm: 14 arguments expected");
  gstate *s = g_state(env, a[0]);
  if (!s) GFAIL("sgemm: closed or not a handle");
  gemm_call c;
  float *A, *B, *C;
  size_t an, bn, cn;
  if (!g_int(env, a[1], &c.count)) GFAIL("sgemm: count must be an integer ≥ 0");
  if (!g_bool(env, a[2], &c.trans_a) || !g_bool(env, a[3], &c.trans_b) || !g_bool(env, a[13], &c.accumulate)) GFAIL("sgemm: transA, transB, accumulate must be booleans");
  if (!g_int(env, a[4], &c.M) || !g_int(env, a[5], &c.N) || !g_int(env, a[6], &c.K)) GFAIL("sgemm: M, N, K must be integers ≥ 0");
  if (!g_f32(env, a[7], &A, &an) || !g_f32(env, a[9], &B, &bn) || !g_f32(env, a[11], &C, &cn)) GFAIL("sgemm: A, B, C must be Float32Arrays");
  if (!g_size(env, a[8], &c.stride_a) || !g_size(env, a[10], &c.stride_b) || !g_size(env, a[12], &c.stride_c)) GFAIL("sgemm: strides must be integers ≥ 0");
  const size_t M = (size_t)c.M, N = (size_t)c.N, K = (size_t)c.K;
  const size_t ea = extent(c.count, c.stride_a, M, K), eb = extent(c.count, c.stride_b, K, N), ec = extent(c.count, c.stride_c, M, N);
  if (ea > an || eb > bn || ec > cn) GFAIL("sgemm: A, B or C is too short for the sizes");
  if (c.count > 1 && M * N > 0 && c.stride_c < M * N) GFAIL("sgemm: strideC must be at least M·N (the C matrices must not overlap)");
  if (overlaps(C, ec, A, ea) || overlaps(C, ec, B, eb)) GFAIL("sgemm: C must not overlap A or B");
  c.A = A;
  c.B = B;
  c.C = C;
  int expected = 0;
  if (!atomic_compare_exchange_strong(&s->busy, &expected, 1)) GFAIL("sgemm: in use by another call");
  gemm_run(s->ctx, &c);
  atomic_store(&s->busy, 0);
  return NULL;
}

int gemm_define(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gemmCreate", NULL, js_gemm_create, NULL, NULL, NULL, napi_default, NULL},
      {"gemmDestroy", NULL, js_gemm_destroy, NULL, NULL, NULL, napi_default, NULL},
      {"gemmInfo", NULL, js_gemm_info, NULL, NULL, NULL, napi_default, NULL},
      {"sgemm", NULL, js_sgemm, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props) == napi_ok;
}
