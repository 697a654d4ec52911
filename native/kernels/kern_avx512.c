// AVX-512 kernels (F + BW + VL + DQ, with F16C). A 32-column block of a row is two zmm registers:
// columns 0–15 and 16–31 (f32, f16, int8), or the even and odd columns (bf16, widened with one shift
// and one AND, see kernels.h). Each (row, token) keeps its two accumulators = the 32 canonical lanes.
// Built with per-function target attributes; chosen at run time only on CPUs that have these features.
#include "kernels.h"

#ifdef BLYAN_X86
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline))

// Decode (one token): how far ahead (in bytes) of the current position a row stream is prefetched.
#ifndef DEC_PF_BYTES
#define DEC_PF_BYTES 16384
#endif

typedef struct {
  __m512 a, b;
} v32;

T512 INL v32 ldw(const int dt, const uint8_t *p) {
  v32 v;
  switch (dt) {
    case DT_F32:
      v.a = _mm512_loadu_ps(p);
      v.b = _mm512_loadu_ps(p + 64);
      break;
    case DT_BF16: {
      const __m512i u = _mm512_loadu_si512(p);
      v.a = _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
      v.b = _mm512_castsi512_ps(_mm512_and_si512(u, _mm512_set1_epi32((int)0xffff0000u)));
      break;
    }
    case DT_F16:
      v.a = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
      v.b = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32)));
      break;
    default:
      v.a = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
      v.b = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 16))));
      break;
  }
  return v;
}

// The last 1..31 columns: masked loads never touch memory outside the mask; masked lanes are 0.
T512 INL v32 ldw_tail(const int dt, const uint8_t *p, int rem) {
  const __mmask32 k = (__mmask32)((1ull << rem) - 1u);
  const __mmask16 ka = (__mmask16)k, kb = (__mmask16)(k >> 16);
  v32 v;
  switch (dt) {
    case DT_F32:
      v.a = _mm512_maskz_loadu_ps(ka, p);
      v.b = _mm512_maskz_loadu_ps(kb, p + 64);
      break;
    case DT_BF16: {
      const __m512i u = _mm512_maskz_loadu_epi16(k, p);
      v.a = _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
      v.b = _mm512_castsi512_ps(_mm512_and_si512(u, _mm512_set1_epi32((int)0xffff0000u)));
      break;
    }
    case DT_F16:
      v.a = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(ka, p));
      v.b = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(kb, p + 32));
      break;
    default:
      v.a = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(ka, p)));
      v.b = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(kb, p + 16)));
      break;
  }
  return v;
}

T512 INL v32 ldx(const float *p) {
  v32 v = {_mm512_loadu_ps(p), _mm512_loadu_ps(p + 16)};
  return v;
}

T512 INL v32 ldx_tail(const float *p, int rem) {
  const __mmask32 k = (__mmask32)((1ull << rem) - 1u);
  v32 v = {_mm512_maskz_loadu_ps((__mmask16)k, p), _mm512_maskz_loadu_ps((__mmask16)(k >> 16), p + 16)};
  return v;
}

T512 INL v32 madd(v32 acc, v32 w, v32 x) {
  acc.a = _mm512_add_ps(acc.a, _mm512_mul_ps(w.a, x.a));
  acc.b = _mm512_add_ps(acc.b, _mm512_mul_ps(w.b, x.b));
  return acc;
}

// The halving fold of the 32 lanes. Natural layout: a = lanes 0–15, b = lanes 16–31.
T512 INL float fold_nat(v32 v) {
  const __m512 s16 = _mm512_add_ps(v.a, v.b);
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(s16), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s16), 1)));
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

// Even/odd layout (bf16): a lane i = lane 2i, b lane i = lane 2i+1. Same sums as fold_nat's, regrouped.
T512 INL float fold_eo(v32 v) {
  const __m256 e8 = _mm256_add_ps(_mm512_castps512_ps256(v.a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v.a), 1)));
  const __m256 o8 = _mm256_add_ps(_mm512_castps512_ps256(v.b), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v.b), 1)));
  const __m128 e4 = _mm_add_ps(_mm256_castps256_ps128(e8), _mm256_extractf128_ps(e8, 1));
  const __m128 o4 = _mm_add_ps(_mm256_castps256_ps128(o8), _mm256_extractf128_ps(o8, 1));
  const __m128 e2 = _mm_add_ps(e4, _mm_movehl_ps(e4, e4));
  const __m128 o2 = _mm_add_ps(o4, _mm_movehl_ps(o4, o4));
  const __m128 se = _mm_add_ss(e2, _mm_shuffle_ps(e2, e2, 1));
  const __m128 so = _mm_add_ss(o2, _mm_shuffle_ps(o2, o2, 1));
  return _mm_cvtss_f32(_mm_add_ss(se, so));
}

// RB rows × TB tokens over all columns; res[i*TB + j]. xs: x (or xd for bf16), token stride xstride.
T512 INL void tile(const int dt, const int RB, const int TB, const uint8_t *w, size_t ws, int cols, const float *xs, size_t xstride,
                   float *res) {
  const size_t es = dtype_bytes(dt);
  v32 acc[4][4];
  for (int i = 0; i < RB; i++)
    for (int j = 0; j < TB; j++) acc[i][j].a = acc[i][j].b = _mm512_setzero_ps();
  int c = 0;
  for (; c + 32 <= cols; c += 32) {
    v32 xv[4];
    for (int j = 0; j < TB; j++) xv[j] = ldx(xs + (size_t)j * xstride + c);
    for (int i = 0; i < RB; i++) {
      const v32 wv = ldw(dt, w + (size_t)i * ws + (size_t)c * es);
      for (int j = 0; j < TB; j++) acc[i][j] = madd(acc[i][j], wv, xv[j]);
    }
  }
  if (c < cols) {
    const int rem = cols - c;
    v32 xv[4];
    // xd (bf16) is zero-padded to whole blocks; natural x must not be read past cols.
    for (int j = 0; j < TB; j++) xv[j] = dt == DT_BF16 ? ldx(xs + (size_t)j * xstride + c) : ldx_tail(xs + (size_t)j * xstride + c, rem);
    for (int i = 0; i < RB; i++) {
      const v32 wv = ldw_tail(dt, w + (size_t)i * ws + (size_t)c * es, rem);
      for (int j = 0; j < TB; j++) acc[i][j] = madd(acc[i][j], wv, xv[j]);
    }
  }
  for (int i = 0; i < RB; i++)
    for (int j = 0; j < TB; j++) res[i * TB + j] = dt == DT_BF16 ? fold_eo(acc[i][j]) : fold_nat(acc[i][j]);
}

// ---- decode (one token): one row at a time, as one sequential stream ----

T512 INL __m512 i8x16_ps(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)); }

// Any dtype, any alignment: unaligned loads (a 64-byte load that straddles two cache lines costs ~25%).
T512 INL float dec_row(const int dt, const uint8_t *p, int cols, const float *xs) {
  v32 acc = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  const int nb = cols / 32;
  int b = 0, c = 0;
  size_t off = 0;
  if (dt == DT_I8) {
    for (; b + 2 <= nb; b += 2, c += 64, off += 64) {
      _mm_prefetch((const char *)(p + off + DEC_PF_BYTES), _MM_HINT_T0);
      const __m512i ch = _mm512_loadu_si512(p + off);
      const v32 w0 = {i8x16_ps(_mm512_castsi512_si128(ch)), i8x16_ps(_mm512_extracti32x4_epi32(ch, 1))};
      const v32 w1 = {i8x16_ps(_mm512_extracti32x4_epi32(ch, 2)), i8x16_ps(_mm512_extracti32x4_epi32(ch, 3))};
      acc = madd(acc, w0, ldx(xs + c));
      acc = madd(acc, w1, ldx(xs + c + 32));
    }
  }
  const size_t es = dtype_bytes(dt);
  for (; b < nb; b++, c += 32, off += 32 * es) {
    _mm_prefetch((const char *)(p + off + DEC_PF_BYTES), _MM_HINT_T0);
    if (es == 4) _mm_prefetch((const char *)(p + off + 64 + DEC_PF_BYTES), _MM_HINT_T0);
    acc = madd(acc, ldw(dt, p + off), ldx(xs + c));
  }
  if (c < cols) {
    const int rem = cols - c;
    acc = madd(acc, ldw_tail(dt, p + off, rem), dt == DT_BF16 ? ldx(xs + c) : ldx_tail(xs + c, rem));
  }
  return dt == DT_BF16 ? fold_eo(acc) : fold_nat(acc);
}

T512 INL v32 widen2(const int dt, __m512i ch) {
  v32 w;
  if (dt == DT_BF16) {
    w.a = _mm512_castsi512_ps(_mm512_slli_epi32(ch, 16));
    w.b = _mm512_castsi512_ps(_mm512_and_si512(ch, _mm512_set1_epi32((int)0xffff0000u)));
  } else {
    w.a = _mm512_cvtph_ps(_mm512_castsi512_si256(ch));
    w.b = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(ch, 1));
  }
  return w;
}

// bf16/f16 rows starting s elements past a 64-byte boundary: aligned 64-byte chunks from p - 2s (the
// first and last masked to the row), x in the decode layout xr (kernels.h), accumulators rotated back
// by (ia, ib) before the canonical fold.
T512 INL float dec_row_aligned(const int dt, const uint8_t *p, int cols, int s, const float *xr, __m512i ia, __m512i ib) {
  const uint8_t *base = p - 2 * s;
  const int total = s + cols;
  const int nch = (total + 31) / 32;
  v32 acc = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  __mmask32 first = (__mmask32)(~0u << s);
  if (nch == 1) first &= (__mmask32)(total >= 32 ? ~0u : (1u << total) - 1u);
  acc = madd(acc, widen2(dt, _mm512_maskz_loadu_epi16(first, base)), ldx(xr));
  int k = 1;
  for (; k < nch - 1; k++) {
    _mm_prefetch((const char *)(base + (size_t)k * 64 + DEC_PF_BYTES), _MM_HINT_T0);
    acc = madd(acc, widen2(dt, _mm512_load_si512(base + (size_t)k * 64)), ldx(xr + (size_t)k * 32));
  }
  if (k < nch) {
    const int lim = total - 32 * k;  // 1..32
    const __mmask32 last = (__mmask32)(lim >= 32 ? ~0u : (1u << lim) - 1u);
    acc = madd(acc, widen2(dt, _mm512_maskz_loadu_epi16(last, base + (size_t)k * 64)), ldx(xr + (size_t)k * 32));
  }
  const v32 canon = {_mm512_permutex2var_ps(acc.a, ia, acc.b), _mm512_permutex2var_ps(acc.a, ib, acc.b)};
  return dt == DT_BF16 ? fold_eo(canon) : fold_nat(canon);
}

T512 INL void decode_rows(const int dt, const kmat *m, const float *xs, const float *xr, int r0, int r1, float *out) {
  const int cols = m->cols;
  const size_t ws = (size_t)cols * dtype_bytes(dt);
  const int s = xr ? decode_shift(m) : -1;
  if ((dt == DT_BF16 || dt == DT_F16) && s >= 0 && cols > 0) {
    // rotation back: canonical lane l sits in physical lane (l + s) mod 32. Physical lanes are indexed
    // into the concatenation (a, b): natural layout p -> p; even/odd layout p -> p/2 + 16·(p odd).
    int ia[16], ib[16];
    for (int i = 0; i < 16; i++) {
      if (dt == DT_BF16) {
        const int pe = (2 * i + s) & 31, po = (2 * i + 1 + s) & 31;
        ia[i] = (pe >> 1) + 16 * (pe & 1);
        ib[i] = (po >> 1) + 16 * (po & 1);
      } else {
        ia[i] = (i + s) & 31;
        ib[i] = (i + 16 + s) & 31;
      }
    }
    const __m512i va = _mm512_loadu_si512(ia), vb = _mm512_loadu_si512(ib);
    for (int r = r0; r < r1; r++) out[r] = dec_row_aligned(dt, m->data + ws * (size_t)r, cols, s, xr, va, vb);
    return;
  }
  for (int r = r0; r < r1; r++) {
    float v = dec_row(dt, m->data + ws * (size_t)r, cols, xs);
    if (dt == DT_I8) v = v * m->scales[r];
    out[r] = v;
  }
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

T512 INL void rows_dt(const int dt, const kmat *m, const float *x, const float *xd, const float *xr, int tokens, int r0, int r1, float *out, size_t os) {
  const int cols = m->cols;
  const size_t ws = (size_t)cols * dtype_bytes(dt);
  const float *xs = dt == DT_BF16 ? xd : x;
  const size_t xstride = dt == DT_BF16 ? pad32((size_t)cols) : (size_t)cols;
  float res[16];
  if (tokens == 1) {
    decode_rows(dt, m, xs, xr, r0, r1, out);
    return;
  }
  // Prefill: panels of rows that stay in L2 while every block of 4 tokens passes over them.
  int panel = (int)((256u * 1024u) / (ws ? ws : 1)) & ~3;
  if (panel < 4) panel = 4;
  for (int p0 = r0; p0 < r1; p0 += panel) {
    const int p1 = p0 + panel < r1 ? p0 + panel : r1;
    for (int t = 0; t < tokens; t += 4) {
      const int tb = tokens - t < 4 ? tokens - t : 4;
      int r = p0;
      for (; r + 2 <= p1; r += 2) {
        switch (tb) {
          case 4: TILE(2, 4); break;
          case 3: TILE(2, 3); break;
          case 2: TILE(2, 2); break;
          default: TILE(2, 1); break;
        }
      }
      for (; r < p1; r++) {
        switch (tb) {
          case 4: TILE(1, 4); break;
          case 3: TILE(1, 3); break;
          case 2: TILE(1, 2); break;
          default: TILE(1, 1); break;
        }
      }
    }
  }
}

#define ROWS_FN(NAME, DT) \
  T512 static void NAME(const kmat *m, const float *x, const float *xd, const float *xr, int tokens, int r0, int r1, float *out, size_t os) { \
    rows_dt(DT, m, x, xd, xr, tokens, r0, r1, out, os); \
  }
ROWS_FN(rows_f32, DT_F32)
ROWS_FN(rows_bf16, DT_BF16)
ROWS_FN(rows_f16, DT_F16)
ROWS_FN(rows_i8, DT_I8)

static void rows_avx512(const kmat *m, const float *x, const float *xd, const float *xr, int tokens, int r0, int r1, float *out, size_t os) {
  switch (m->dtype) {
    case DT_F32: rows_f32(m, x, xd, xr, tokens, r0, r1, out, os); break;
    case DT_BF16: rows_bf16(m, x, xd, xr, tokens, r0, r1, out, os); break;
    case DT_F16: rows_f16(m, x, xd, xr, tokens, r0, r1, out, os); break;
    default: rows_i8(m, x, xd, xr, tokens, r0, r1, out, os); break;
  }
}

// Canonical exp (f32math.ts): compares and blends keep NaN flowing through (min/max would not).
T512 INL __m512 exp16(__m512 x) {
  const __m512 hi = _mm512_set1_ps(EXP_HI), lo = _mm512_set1_ps(EXP_LO);
  const __mmask16 over = _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ);
  __m512 xc = _mm512_mask_blend_ps(over, x, hi);
  xc = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(xc, lo, _CMP_LT_OQ), xc, lo);
  const __m512 fx = _mm512_mul_ps(xc, _mm512_set1_ps(EXP_LOG2E));
  const __m512 t = _mm512_add_ps(fx, _mm512_set1_ps(EXP_MAGIC));
  const __m512 n = _mm512_sub_ps(t, _mm512_set1_ps(EXP_MAGIC));
  const __m512i nb = _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4b400000)), _mm512_set1_epi32(127));
  __m512 r = _mm512_sub_ps(xc, _mm512_mul_ps(n, _mm512_set1_ps(EXP_LN2_HI)));
  r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(EXP_LN2_LO)));
  __m512 y = _mm512_set1_ps(EXP_P0);
  y = _mm512_add_ps(_mm512_mul_ps(y, r), _mm512_set1_ps(EXP_P1));
  y = _mm512_add_ps(_mm512_mul_ps(y, r), _mm512_set1_ps(EXP_P2));
  y = _mm512_add_ps(_mm512_mul_ps(y, r), _mm512_set1_ps(EXP_P3));
  y = _mm512_add_ps(_mm512_mul_ps(y, r), _mm512_set1_ps(EXP_P4));
  y = _mm512_add_ps(_mm512_mul_ps(y, r), _mm512_set1_ps(EXP_P5));
  y = _mm512_add_ps(_mm512_mul_ps(y, _mm512_mul_ps(r, r)), r);
  y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
  const __m512 e = _mm512_mul_ps(y, _mm512_castsi512_ps(_mm512_slli_epi32(nb, 23)));
  return _mm512_mask_blend_ps(over, e, _mm512_castsi512_ps(_mm512_set1_epi32(0x7f800000)));
}

T512 INL __m512 swiglu16(__m512 g, __m512 u) {
  const __m512 neg = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(g), _mm512_set1_epi32((int)0x80000000u)));
  const __m512 s = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(neg)));
  return _mm512_mul_ps(s, u);
}

T512 static void swiglu_avx512(float *out, const float *g, const float *u, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, swiglu16(_mm512_loadu_ps(g + i), _mm512_loadu_ps(u + i)));
  if (i < n) {
    const __mmask16 k = (__mmask16)((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(out + i, k, swiglu16(_mm512_maskz_loadu_ps(k, g + i), _mm512_maskz_loadu_ps(k, u + i)));
  }
}

const kisa kisa_avx512 = {"avx512", rows_avx512, swiglu_avx512, 1, 1};
#endif
