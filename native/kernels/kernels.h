// Shared declarations of the blyan_kernels addon (docs/kernels.md).
//
// Every output is one fixed sequence of f32 operations, the same in every code path (AVX-512, AVX2,
// scalar C, WebAssembly, JS): 32 lane sums, lane l adding round(w[c]*x[c]) for c ≡ l (mod 32) in column
// order (separate multiply and add, never fused: the build uses -ffp-contract=off), then the halving fold
// a[l]+=a[l+16], a[l]+=a[l+8], +4, +2, +1; int8 rows times their scale.
//
// bf16 rows are widened without shuffles: a 32-bit word holding columns 2i (low half) and 2i+1 (high half)
// gives column 2i as word << 16 and column 2i+1 as word & 0xffff0000. The SIMD paths therefore keep the
// even columns of a 32-column block in one register ("E", lane i = logical lane 2i) and the odd ones in
// another ("O"), and read x from a de-interleaved copy xd: per 32-column block, the 16 even-column values
// then the 16 odd-column values (deinterleave32 below; the tail block is zero-padded).
#ifndef BLYAN_KERNELS_H
#define BLYAN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

enum { DT_F32 = 0, DT_BF16 = 1, DT_F16 = 2, DT_I8 = 3 };

static inline size_t dtype_bytes(int dt) { return dt == DT_F32 ? 4 : dt == DT_I8 ? 1 : 2; }

/** A weight matrix: rows × cols, row-major, little-endian; scales only for int8. */
typedef struct {
  const uint8_t *data;
  const float *scales;
  int dtype;
  int rows;
  int cols;
} kmat;

/**
 * Rows [r0, r1) of m against `tokens` input vectors x[t*m->cols ..]: out[t*ostride + r] = dot (× scale).
 * xd: the de-interleaved copy of x (row stride pad32(cols)) when m is bf16 and the path wants it, else NULL.
 * xr: for tokens == 1 only, x in the decode layout of m (build_xr below) when decode_shift(m) >= 0 and
 *     the path wants it, else NULL.
 */
typedef void (*rows_fn)(const kmat *m, const float *x, const float *xd, const float *xr, int tokens, int r0, int r1, float *out,
                        size_t ostride);
/** out[i] = silu(g[i]) * u[i] with the canonical exp (f32math.ts). */
typedef void (*swiglu_fn)(float *out, const float *g, const float *u, size_t n);

typedef struct {
  const char *name;
  rows_fn rows;
  swiglu_fn swiglu;
  int wants_xd;  // bf16 rows need the de-interleaved x
  int wants_xr;  // decode reads bf16/f16 rows from 64-byte aligned addresses (decode_shift)
} kisa;

static inline size_t pad32(size_t n) { return (n + 31) & ~(size_t)31; }

/** xd[32b + i] = x[32b + 2i], xd[32b + 16 + i] = x[32b + 2i + 1]; columns past n read as 0. */
static inline void deinterleave32(float *xd, const float *x, size_t n) {
  const size_t np = pad32(n);
  for (size_t b = 0; b < np; b += 32) {
    for (size_t i = 0; i < 16; i++) {
      const size_t e = b + 2 * i, o = e + 1;
      xd[b + i] = e < n ? x[e] : 0.0f;
      xd[b + 16 + i] = o < n ? x[o] : 0.0f;
    }
  }
}

extern const kisa kisa_scalar;
#if defined(__x86_64__) || defined(__i386__)
#define BLYAN_X86 1
extern const kisa kisa_avx2;
extern const kisa kisa_avx512;
#endif

// ---- decode layout ----
// In decode, the AVX-512 path reads bf16/f16 rows in 64-byte chunks from 64-byte aligned addresses even
// when the rows are not aligned (LMDB views are only 4-byte aligned): if every row starts s elements past
// a 64-byte boundary, chunk k of a row holds elements s..s+cols of "row shifted right by s", and x is
// shifted the same way (xr[j] = x[j - s], zero outside), so each product meets its own x value. Physical
// lane j then holds canonical lane (j - s) mod 32; the accumulators are rotated back once per row, before
// the fold, so the arithmetic is exactly the canonical one.

/** The element shift s (0..31) of the rows of a bf16/f16 matrix past a 64-byte boundary, if all rows share it; else -1. */
static inline int decode_shift(const kmat *m) {
  if (m->dtype != DT_BF16 && m->dtype != DT_F16) return -1;
  if (m->rows > 1 && ((size_t)m->cols * 2) % 64 != 0) return -1;
  const uintptr_t mis = (uintptr_t)m->data & 63;
  if (mis & 1) return -1;
  return (int)(mis / 2);
}

/** Floats of a decode-layout vector for cols columns and shift s. */
static inline size_t xr_len(int cols, int s) { return pad32((size_t)cols + (size_t)s); }

/** Stores v as element j of a decode-layout vector (de-interleaved per 32-block for bf16). */
static inline void xr_put(float *xr, size_t j, float v, int deint) {
  const size_t b = j & ~(size_t)31, p = j & 31;
  xr[deint ? b + ((p & 1) ? 16 + (p >> 1) : (p >> 1)) : j] = v;
}

/** xr = x shifted right by s (zeros around), de-interleaved when deint (bf16). */
static inline void build_xr(float *xr, const float *x, int cols, int s, int deint) {
  const size_t n = xr_len(cols, s);
  for (size_t i = 0; i < n; i++) xr[i] = 0.0f;
  for (int i = 0; i < cols; i++) xr_put(xr, (size_t)i + (size_t)s, x[i], deint);
}

// Canonical exp constants (f32math.ts).
#define EXP_HI 88.0f
#define EXP_LO -87.0f
#define EXP_LOG2E 1.44269504088896341f
#define EXP_MAGIC 12582912.0f
#define EXP_LN2_HI 0.693359375f
#define EXP_LN2_LO -2.12194440e-4f
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f

// ---- thread pool (pool.c) ----
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

typedef struct kpool kpool;
typedef void (*task_fn)(void *ctx, int worker, int nworkers);

/** Starts n-1 worker threads (the caller is worker 0). spin_ns: how long an idle worker spins before sleeping. */
kpool *pool_create(int n, long spin_ns);
void pool_destroy(kpool *p);
int pool_size(const kpool *p);
/**
 * Runs fn(ctx, w, n) on the caller (w = 0) and on every worker that starts in time, and returns when all
 * that started are done. A task must therefore not assume that all n workers take part: it hands out
 * its work dynamically, and worker 0 alone must be able to finish it.
 */
void pool_run(kpool *p, task_fn fn, void *ctx);

/** Contiguous row split: [*r0, *r1) of `rows` for worker w of n, boundaries multiples of `align`. */
static inline void split_rows(int rows, int w, int n, int align, int *r0, int *r1) {
  long blocks = (rows + align - 1) / align;
  long b0 = blocks * w / n, b1 = blocks * (w + 1) / n;
  long a = b0 * align, b = b1 * align;
  *r0 = (int)(a < rows ? a : rows);
  *r1 = (int)(b < rows ? b : rows);
}

#endif
