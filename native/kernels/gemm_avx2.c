// AVX2 + FMA GEMM micro-kernel (gemm.h): 6 rows × 16 columns of C in 12 ymm accumulators, two ymm of
// packed B and one broadcast of A per step of k. Edge columns use masked loads and stores; edge rows use
// a specialisation with fewer rows (the same arithmetic per element).
#include "gemm.h"

#ifdef BLYAN_X86
#include <immintrin.h>

#define MR 6
#define NR 16
#define KC 256
#define KCP (KC + 16)
#define TGT __attribute__((target("avx2,fma"), always_inline)) static inline

TGT void ukr_t(const int rows, const int nv, const int a_rows, int kc, const float *a, const float *b, float *c, size_t ldc, int load_c,
               __m256i mlast) {
  const __m256i all = _mm256_set1_epi32(-1);
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int r = 0; r < rows; r++) {
#pragma GCC unroll 2
    for (int v = 0; v < nv; v++) {
      const __m256i mk = v == nv - 1 ? mlast : all;
      acc[r][v] = load_c ? _mm256_maskload_ps(c + (size_t)r * ldc + 8 * v, mk) : _mm256_setzero_ps();
    }
  }
  for (int k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_load_ps(b + (size_t)k * NR);
    const __m256 b1 = nv > 1 ? _mm256_load_ps(b + (size_t)k * NR + 8) : b0;
#pragma GCC unroll 6
    for (int r = 0; r < rows; r++) {
      const __m256 ar = _mm256_broadcast_ss(a_rows ? a + r * KCP + k : a + k * MR + r);
      acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
      if (nv > 1) acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < rows; r++) {
#pragma GCC unroll 2
    for (int v = 0; v < nv; v++) {
      const __m256i mk = v == nv - 1 ? mlast : all;
      _mm256_maskstore_ps(c + (size_t)r * ldc + 8 * v, mk, acc[r][v]);
    }
  }
}

#define UKR_ROWS(R)                                                                                                                     \
  __attribute__((target("avx2,fma"), noinline)) static void ukr_##R(int nv, int a_rows, int kc, const float *a, const float *b, float *c, \
                                                                    size_t ldc, int load_c, __m256i ml) {                               \
    if (nv == 2) {                                                                                                                      \
      if (a_rows) ukr_t(R, 2, 1, kc, a, b, c, ldc, load_c, ml);                                                                         \
      else ukr_t(R, 2, 0, kc, a, b, c, ldc, load_c, ml);                                                                                \
    } else {                                                                                                                            \
      if (a_rows) ukr_t(R, 1, 1, kc, a, b, c, ldc, load_c, ml);                                                                         \
      else ukr_t(R, 1, 0, kc, a, b, c, ldc, load_c, ml);                                                                                \
    }                                                                                                                                   \
  }

UKR_ROWS(1)
UKR_ROWS(2)
UKR_ROWS(3)
UKR_ROWS(4)
UKR_ROWS(5)
UKR_ROWS(6)

typedef void (*ukr_rows_fn)(int, int, int, const float *, const float *, float *, size_t, int, __m256i);
static const ukr_rows_fn BY_ROWS[MR + 1] = {NULL, ukr_1, ukr_2, ukr_3, ukr_4, ukr_5, ukr_6};

__attribute__((target("avx2,fma"))) static void ukr_avx2(int m, int n, int kc, const float *a, int a_rows, const float *b, float *c, size_t ldc,
                                                        int load_c) {
  const int nv = n > 8 ? 2 : 1;
  const int last = n - 8 * (nv - 1);  // 1..8 columns in the last vector
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i ml = _mm256_cmpgt_epi32(_mm256_set1_epi32(last), lane);
  BY_ROWS[m](nv, a_rows, kc, a, b, c, ldc, load_c, ml);
}

const gemm_isa gemm_isa_avx2 = {"avx2", MR, NR, KC, KCP, 144, 512, ukr_avx2};

#endif
