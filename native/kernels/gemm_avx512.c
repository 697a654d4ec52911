// AVX-512 GEMM micro-kernel (gemm.h): 14 rows × 32 columns of C in 28 zmm accumulators, two zmm of
// packed B and one broadcast of A per step of k, fused multiply-adds. Edge columns use masked loads and
// stores; edge rows use a specialisation with fewer rows (with two accumulator sets when it has few).
#include "gemm.h"

#ifdef BLYAN_X86
#include <immintrin.h>

#define MR 14
#define NR 32
#define KC 256
#define KCP (KC + 16)
#define TGT __attribute__((target("avx512f,fma"), always_inline)) static inline

TGT void ukr_t(const int rows, const int nv, const int a_rows, int kc, const float *a, const float *b, float *c, size_t ldc, int load_c,
               __mmask16 mlast) {
  __m512 acc[MR][2];
#pragma GCC unroll 14
  for (int r = 0; r < rows; r++) {
#pragma GCC unroll 2
    for (int v = 0; v < nv; v++) {
      const __mmask16 mk = v == nv - 1 ? mlast : (__mmask16)0xffff;
      acc[r][v] = load_c ? _mm512_maskz_loadu_ps(mk, c + (size_t)r * ldc + 16 * v) : _mm512_setzero_ps();
    }
  }
  int k = 0;
  if (rows * nv < 8) {
    // Too few accumulators to hide the FMA latency: odd k go to a second set, added at the end. Only the
    // last row sliver of a product (M mod 14 rows) or its last 16 columns can take this branch, and
    // sliver boundaries are multiples of MR and NR whatever the tiling, so every element still has one
    // fixed sequence of operations.
    __m512 odd[MR][2];
#pragma GCC unroll 14
    for (int r = 0; r < rows; r++) odd[r][0] = odd[r][1] = _mm512_setzero_ps();
    for (; k + 1 < kc; k += 2) {
      const __m512 b0 = _mm512_load_ps(b + (size_t)k * NR);
      const __m512 b1 = nv > 1 ? _mm512_load_ps(b + (size_t)k * NR + 16) : b0;
      const __m512 c0 = _mm512_load_ps(b + (size_t)k * NR + NR);
      const __m512 c1 = nv > 1 ? _mm512_load_ps(b + (size_t)k * NR + NR + 16) : c0;
#pragma GCC unroll 14
      for (int r = 0; r < rows; r++) {
        const __m512 ar = _mm512_set1_ps(a_rows ? a[r * KCP + k] : a[k * MR + r]);
        const __m512 ar1 = _mm512_set1_ps(a_rows ? a[r * KCP + k + 1] : a[(k + 1) * MR + r]);
        acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
        odd[r][0] = _mm512_fmadd_ps(ar1, c0, odd[r][0]);
        if (nv > 1) {
          acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
          odd[r][1] = _mm512_fmadd_ps(ar1, c1, odd[r][1]);
        }
      }
    }
#pragma GCC unroll 14
    for (int r = 0; r < rows; r++) {
      acc[r][0] = _mm512_add_ps(acc[r][0], odd[r][0]);
      if (nv > 1) acc[r][1] = _mm512_add_ps(acc[r][1], odd[r][1]);
    }
  }
  for (; k < kc; k++) {
    const __m512 b0 = _mm512_load_ps(b + (size_t)k * NR);
    const __m512 b1 = nv > 1 ? _mm512_load_ps(b + (size_t)k * NR + 16) : b0;
#pragma GCC unroll 14
    for (int r = 0; r < rows; r++) {
      const __m512 ar = _mm512_set1_ps(a_rows ? a[r * KCP + k] : a[k * MR + r]);
      acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
      if (nv > 1) acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 14
  for (int r = 0; r < rows; r++) {
#pragma GCC unroll 2
    for (int v = 0; v < nv; v++) {
      const __mmask16 mk = v == nv - 1 ? mlast : (__mmask16)0xffff;
      _mm512_mask_storeu_ps(c + (size_t)r * ldc + 16 * v, mk, acc[r][v]);
    }
  }
}

#define UKR_ROWS(R)                                                                                                                         \
  __attribute__((target("avx512f,fma"), noinline)) static void ukr_##R(int nv, int a_rows, int kc, const float *a, const float *b, float *c, \
                                                                       size_t ldc, int load_c, __mmask16 ml) {                               \
    if (nv == 2) {                                                                                                                          \
      if (a_rows) ukr_t(R, 2, 1, kc, a, b, c, ldc, load_c, ml);                                                                             \
      else ukr_t(R, 2, 0, kc, a, b, c, ldc, load_c, ml);                                                                                    \
    } else {                                                                                                                                \
      if (a_rows) ukr_t(R, 1, 1, kc, a, b, c, ldc, load_c, ml);                                                                             \
      else ukr_t(R, 1, 0, kc, a, b, c, ldc, load_c, ml);                                                                                    \
    }                                                                                                                                       \
  }

UKR_ROWS(1)
UKR_ROWS(2)
UKR_ROWS(3)
UKR_ROWS(4)
UKR_ROWS(5)
UKR_ROWS(6)
UKR_ROWS(7)
UKR_ROWS(8)
UKR_ROWS(9)
UKR_ROWS(10)
UKR_ROWS(11)
UKR_ROWS(12)
UKR_ROWS(13)
UKR_ROWS(14)

typedef void (*ukr_rows_fn)(int, int, int, const float *, const float *, float *, size_t, int, __mmask16);
static const ukr_rows_fn BY_ROWS[MR + 1] = {NULL,  ukr_1,  ukr_2,  ukr_3,  ukr_4,  ukr_5,  ukr_6, ukr_7,
                                            ukr_8, ukr_9, ukr_10, ukr_11, ukr_12, ukr_13, ukr_14};

static void ukr_avx512(int m, int n, int kc, const float *a, int a_rows, const float *b, float *c, size_t ldc, int load_c) {
  const int nv = n > 16 ? 2 : 1;
  const int last = n - 16 * (nv - 1);  // 1..16 columns in the last vector
  const __mmask16 ml = (__mmask16)(last >= 16 ? 0xffff : (1u << last) - 1u);
  BY_ROWS[m](nv, a_rows, kc, a, b, c, ldc, load_c, ml);
}

const gemm_isa gemm_isa_avx512 = {"avx512", MR, NR, KC, KCP, 168, 512, ukr_avx512};

#endif
