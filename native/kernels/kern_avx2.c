// AVX2 + FMA + F16C kernels. A 32-column block of a row is four ymm registers: a = (lo, hi), b = (lo, hi)
// holding columns 0–15 and 16–31 (f32, f16, int8), or the even and odd columns (bf16, kernels.h).
// FMA is only a feature gate (every AVX2 CPU with F16C has it); the arithmetic is a separate multiply
// and add, like every other path.
#include <string.h>

#include "kernels.h"

#ifdef BLYAN_X86
#include <immintrin.h>

#define T256 __attribute__((target("avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline))

typedef struct {
  __m256 al, ah, bl, bh;
} v32;

T256 INL void split_bf16(__m256i u, __m256 *e, __m256 *o) {
  *e = _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
  *o = _mm256_castsi256_ps(_mm256_and_si256(u, _mm256_set1_epi32((int)0xffff0000u)));
}

T256 INL v32 ldw(const int dt, const uint8_t *p) {
  v32 v;
  switch (dt) {
    case DT_F32:
      v.al = _mm256_loadu_ps((const float *)p);
      v.ah = _mm256_loadu_ps((const float *)p + 8);
      v.bl = _mm256_loadu_ps((const float *)p + 16);
      v.bh = _mm256_loadu_ps((const float *)p + 24);
      break;
    case DT_BF16:
      split_bf16(_mm256_loadu_si256((const __m256i *)p), &v.al, &v.bl);
      split_bf16(_mm256_loadu_si256((const __m256i *)(p + 32)), &v.ah, &v.bh);
      break;
    case DT_F16:
      v.al = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
      v.ah = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
      v.bl = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 32)));
      v.bh = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 48)));
      break;
    default:
      v.al = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
      v.ah = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8))));
      v.bl = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16))));
      v.bh = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 24))));
      break;
  }
  return v;
}

T256 INL v32 ldx(const float *p) {
  v32 v = {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), _mm256_loadu_ps(p + 16), _mm256_loadu_ps(p + 24)};
  return v;
}

T256 INL v32 madd(v32 acc, v32 w, v32 x) {
  acc.al = _mm256_add_ps(acc.al, _mm256_mul_ps(w.al, x.al));
  acc.ah = _mm256_add_ps(acc.ah, _mm256_mul_ps(w.ah, x.ah));
  acc.bl = _mm256_add_ps(acc.bl, _mm256_mul_ps(w.bl, x.bl));
  acc.bh = _mm256_add_ps(acc.bh, _mm256_mul_ps(w.bh, x.bh));
  return acc;
}

T256 INL float fold8x2(__m256 s8) {
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

// Natural layout: s16 = (al+bl, ah+bh), then the halving fold.
T256 INL float fold_nat(v32 v) {
  const __m256 s8 = _mm256_add_ps(_mm256_add_ps(v.al, v.bl), _mm256_add_ps(v.ah, v.bh));
  return fold8x2(s8);
}

// Even/odd layout (bf16): al/ah = even lanes 0–7 / 8–15, bl/bh = odd lanes (see kern_avx512.c fold_eo).
T256 INL float fold_eo(v32 v) {
  const __m256 e8 = _mm256_add_ps(v.al, v.ah), o8 = _mm256_add_ps(v.bl, v.bh);
  const __m128 e4 = _mm_add_ps(_mm256_castps256_ps128(e8), _mm256_extractf128_ps(e8, 1));
  const __m128 o4 = _mm_add_ps(_mm256_castps256_ps128(o8), _mm256_extractf128_ps(o8, 1));
  const __m128 e2 = _mm_add_ps(e4, _mm_movehl_ps(e4, e4));
  const __m128 o2 = _mm_add_ps(o4, _mm_movehl_ps(o4, o4));
  const __m128 se = _mm_add_ss(e2, _mm_shuffle_ps(e2, e2, 1));
  const __m128 so = _mm_add_ss(o2, _mm_shuffle_ps(o2, o2, 1));
  return _mm_cvtss_f32(_mm_add_ss(se, so));
}

// RB rows × TB tokens; the last partial block goes through zero-padded copies (0 · 0 added to a lane
// leaves it unchanged, so this equals skipping the missing columns).
T256 INL void tile(const int dt, const int RB, const int TB, const uint8_t *w, size_t ws, int cols, const float *xs, size_t xstride,
                   float *res) {
  const size_t es = dtype_bytes(dt);
  v32 acc[2][2];
  for (int i = 0; i < RB; i++)
    for (int j = 0; j < TB; j++) acc[i][j].al = acc[i][j].ah = acc[i][j].bl = acc[i][j].bh = _mm256_setzero_ps();
  int c = 0;
  for (; c + 32 <= cols; c += 32) {
    v32 xv[2];
    for (int j = 0; j < TB; j++) xv[j] = ldx(xs + (size_t)j * xstride + c);
    for (int i = 0; i < RB; i++) {
      const uint8_t *p = w + (size_t)i * ws + (size_t)c * es;
      if (TB == 1) _mm_prefetch((const char *)(p + 16384), _MM_HINT_T0);
      const v32 wv = ldw(dt, p);
      for (int j = 0; j < TB; j++) acc[i][j] = madd(acc[i][j], wv, xv[j]);
    }
  }
  if (c < cols) {
    const int rem = cols - c;
    float xb[2][32];
    uint8_t wb[128];
    v32 xv[2];
    for (int j = 0; j < TB; j++) {
      if (dt == DT_BF16) {
        xv[j] = ldx(xs + (size_t)j * xstride + c);  // xd is zero-padded to whole blocks
      } else {
        memset(xb[j], 0, sizeof xb[j]);
        memcpy(xb[j], xs + (size_t)j * xstride + c, (size_t)rem * 4);
        xv[j] = ldx(xb[j]);
      }
    }
    for (int i = 0; i < RB; i++) {
      memset(wb, 0, sizeof wb);
      memcpy(wb, w + (size_t)i * ws + (size_t)c * es, (size_t)rem * es);
      const v32 wv = ldw(dt, wb);
      for (int j = 0; j < TB; j++) acc[i][j] = madd(acc[i][j], wv, xv[j]);
    }
  }
  for (int i = 0; i < RB; i++)
    for (int j = 0; j < TB; j++) res[i * TB + j] = dt == DT_BF16 ? fold_eo(acc[i][j]) : fold_nat(acc[i][j]);
}

INL void store(const kmat *m, const float *res, int RB, int TB, int r, int t, float *out, size_t os) {
  for (int i = 0; i < RB; i++) {
    const float sc = m->dtype == DT_I8 ? m->scales[r + i] : 1.0f;
    for (int j = 0; j < TB; j++) {
      float v = res[i * TB + j];
      if (m->dtype == DT_I8) v = v * sc;
      out[(size_t)(t + j) * os + (size_t)(r + i)] = v;
    }
  }
}

#define TILE(RB, TB) \
  do { \
    tile(dt, RB, TB, m->data + ws * (size_t)r, ws, cols, xs + (size_t)t * xstride, xstride, res); \
    store(m, res, RB, TB, r, t, out, os); \
  } while (0)

T256 INL void rows_dt(const int dt, const kmat *m, const float *x, const float *xd, int tokens, int r0, int r1, float *out, size_t os) {
  const int cols = m->cols;
  const size_t ws = (size_t)cols * dtype_bytes(dt);
  const float *xs = dt == DT_BF16 ? xd : x;
  const size_t xstride = dt == DT_BF16 ? pad32((size_t)cols) : (size_t)cols;
  float res[4];
  if (tokens == 1) {
    const int t = 0;
    int r = r0;
    for (; r < r1; r++) TILE(1, 1);  // one row at a time: a single sequential stream prefetches best
    return;
  }
  int panel = (int)((256u * 1024u) / (ws ? ws : 1)) & ~1;
  if (panel < 2) panel = 2;
  for (int p0 = r0; p0 < r1; p0 += panel) {
    const int p1 = p0 + panel < r1 ? p0 + panel : r1;
    for (int t = 0; t < tokens; t += 2) {
      const int tb = tokens - t < 2 ? tokens - t : 2;
      int r = p0;
      for (; r + 2 <= p1; r += 2) {
        if (tb == 2) TILE(2, 2);
        else TILE(2, 1);
      }
      for (; r < p1; r++) {
        if (tb == 2) TILE(1, 2);
        else TILE(1, 1);
      }
    }
  }
}

#define ROWS_FN(NAME, DT) \
  T256 static void NAME(const kmat *m, const float *x, const float *xd, const float *xr, int tokens, int r0, int r1, float *out, size_t os) { \
    rows_dt(DT, m, x, xd, tokens, r0, r1, out, os); \
  }
ROWS_FN(rows_f32, DT_F32)
ROWS_FN(rows_bf16, DT_BF16)
ROWS_FN(rows_f16, DT_F16)
ROWS_FN(rows_i8, DT_I8)

static void rows_avx2(const kmat *m, const float *x, const float *xd, const float *xr, int tokens, int r0, int r1, float *out, size_t os) {
  switch (m->dtype) {
    case DT_F32: rows_f32(m, x, xd, xr, tokens, r0, r1, out, os); break;
    case DT_BF16: rows_bf16(m, x, xd, xr, tokens, r0, r1, out, os); break;
    case DT_F16: rows_f16(m, x, xd, xr, tokens, r0, r1, out, os); break;
    default: rows_i8(m, x, xd, xr, tokens, r0, r1, out, os); break;
  }
}

T256 INL __m256 exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(EXP_HI), lo = _mm256_set1_ps(EXP_LO);
  const __m256 over = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
  __m256 xc = _mm256_blendv_ps(x, hi, over);
  xc = _mm256_blendv_ps(xc, lo, _mm256_cmp_ps(xc, lo, _CMP_LT_OQ));
  const __m256 fx = _mm256_mul_ps(xc, _mm256_set1_ps(EXP_LOG2E));
  const __m256 t = _mm256_add_ps(fx, _mm256_set1_ps(EXP_MAGIC));
  const __m256 n = _mm256_sub_ps(t, _mm256_set1_ps(EXP_MAGIC));
  const __m256i nb = _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4b400000)), _mm256_set1_epi32(127));
  __m256 r = _mm256_sub_ps(xc, _mm256_mul_ps(n, _mm256_set1_ps(EXP_LN2_HI)));
  r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(EXP_LN2_LO)));
  __m256 y = _mm256_set1_ps(EXP_P0);
  y = _mm256_add_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(EXP_P1));
  y = _mm256_add_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(EXP_P2));
  y = _mm256_add_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(EXP_P3));
  y = _mm256_add_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(EXP_P4));
  y = _mm256_add_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(EXP_P5));
  y = _mm256_add_ps(_mm256_mul_ps(y, _mm256_mul_ps(r, r)), r);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  const __m256 e = _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(nb, 23)));
  return _mm256_blendv_ps(e, _mm256_castsi256_ps(_mm256_set1_epi32(0x7f800000)), over);
}

T256 INL __m256 swiglu8(__m256 g, __m256 u) {
  const __m256 neg = _mm256_xor_ps(g, _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u)));
  const __m256 s = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(neg)));
  return _mm256_mul_ps(s, u);
}

T256 static void swiglu_avx2(float *out, const float *g, const float *u, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, swiglu8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
  if (i < n) {
    float gb[8] = {0}, ub[8] = {0}, ob[8];
    memcpy(gb, g + i, (n - i) * 4);
    memcpy(ub, u + i, (n - i) * 4);
    _mm256_storeu_ps(ob, swiglu8(_mm256_loadu_ps(gb), _mm256_loadu_ps(ub)));
    memcpy(out + i, ob, (n - i) * 4);
  }
}

const kisa kisa_avx2 = {"avx2", rows_avx2, swiglu_avx2, 1, 0};
#endif
