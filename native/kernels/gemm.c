// The GEMM driver (gemm.h): tiles of C handed out to the pool's threads, packing of A and B, and the
// portable scalar micro-kernel. The SIMD micro-kernels are in gemm_avx512.c and gemm_avx2.c.
//
// Per tile (rows [i0, i0+mc), columns [j0, j0+nc) of one product), for each block of KC values of k:
// pack B's block into NR-column slivers (k-major), pack A's block into MR-row slivers, then run the
// micro-kernel over every (sliver of B) × (sliver of A), B's sliver staying in L1 while A's block sits
// in L2. A is packed k-major when it is stored transposed (a contiguous copy per k) and row-major (a
// copy per row, fixed stride KCP) otherwise, so packing is always a copy of contiguous runs.
// Which thread computes a tile, and how large tiles are, never changes an element's arithmetic.
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

struct gemm_ctx {
  kpool *pool;
  const gemm_isa *isa;
  int n;
  float **abuf, **bbuf;  // per worker: packed A block (mc × kcp), packed B block (nc × kc)
};

// ---- scalar micro-kernel (any CPU; -ffp-contract=off: a multiply then an add) ----

#define S_MR 4
#define S_NR 16
#define S_KC 256
#define S_KCP (S_KC + 16)

static void ukr_scalar(int m, int n, int kc, const float *a, int a_rows, const float *b, float *c, size_t ldc, int load_c) {
  float acc[S_MR][S_NR];
  for (int r = 0; r < S_MR; r++)
    for (int j = 0; j < S_NR; j++) acc[r][j] = load_c && r < m && j < n ? c[(size_t)r * ldc + j] : 0.0f;
  for (int k = 0; k < kc; k++) {
    const float *bk = b + (size_t)k * S_NR;
    for (int r = 0; r < S_MR; r++) {
      const float ar = r < m ? (a_rows ? a[(size_t)r * S_KCP + k] : a[(size_t)k * S_MR + r]) : 0.0f;
      for (int j = 0; j < S_NR; j++) acc[r][j] += ar * bk[j];
    }
  }
  for (int r = 0; r < m; r++)
    for (int j = 0; j < n; j++) c[(size_t)r * ldc + j] = acc[r][j];
}

const gemm_isa gemm_isa_scalar = {"scalar", S_MR, S_NR, S_KC, S_KCP, 64, 256, ukr_scalar};

// ---- context ----

gemm_ctx *gemm_ctx_create(int threads, long spin_ns, const gemm_isa *isa) {
  gemm_ctx *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->isa = isa;
  g->pool = pool_create(threads < 1 ? 1 : threads, spin_ns);
  if (!g->pool) {
    free(g);
    return NULL;
  }
  g->n = pool_size(g->pool);
  g->abuf = calloc((size_t)g->n, sizeof *g->abuf);
  g->bbuf = calloc((size_t)g->n, sizeof *g->bbuf);
  int ok = g->abuf && g->bbuf;
  const int kmax = isa->kcp > isa->kc ? isa->kcp : isa->kc;
  for (int w = 0; ok && w < g->n; w++) {
    ok = posix_memalign((void **)&g->abuf[w], 64, (size_t)isa->mc * kmax * sizeof(float)) == 0 &&
         posix_memalign((void **)&g->bbuf[w], 64, (size_t)isa->nc * isa->kc * sizeof(float)) == 0;
  }
  if (!ok) {
    gemm_ctx_destroy(g);
    return NULL;
  }
  return g;
}

void gemm_ctx_destroy(gemm_ctx *g) {
  if (!g) return;
  if (g->pool) pool_destroy(g->pool);
  for (int w = 0; w < g->n; w++) {
    if (g->abuf) free(g->abuf[w]);
    if (g->bbuf) free(g->bbuf[w]);
  }
  free(g->abuf);
  free(g->bbuf);
  free(g);
}

int gemm_ctx_threads(const gemm_ctx *g) { return g->n; }
const gemm_isa *gemm_ctx_isa(const gemm_ctx *g) { return g->isa; }

// ---- packing ----

/** memcpy of n floats; the sliver widths get constant-size copies the compiler inlines as vector moves. */
static inline void copy_floats(float *d, const float *s, int n) {
  switch (n) {
    case 4: memcpy(d, s, 4 * sizeof(float)); break;
    case 6: memcpy(d, s, 6 * sizeof(float)); break;
    case 14: memcpy(d, s, 14 * sizeof(float)); break;
    case 16: memcpy(d, s, 16 * sizeof(float)); break;
    case 32: memcpy(d, s, 32 * sizeof(float)); break;
    default: memcpy(d, s, (size_t)n * sizeof(float));
  }
}

/** Rows [i0, i0+m) × k [p0, p0+kc) of op(A) into MR-row slivers; returns whether they are row-major. */
static int pack_a(const gemm_isa *isa, const float *A, int trans, size_t lda, int i0, int m, int p0, int kc, float *dst) {
  const int MR = isa->mr;
  if (!trans) {  // A stored M×K: each row of the block is contiguous → row-major slivers, stride kcp
    for (int s = 0; s < m; s += MR) {
      float *d = dst + (size_t)s * isa->kcp;
      const int rows = m - s < MR ? m - s : MR;
      for (int r = 0; r < rows; r++) memcpy(d + (size_t)r * isa->kcp, A + (size_t)(i0 + s + r) * lda + p0, (size_t)kc * sizeof(float));
    }
    return 1;
  }
  // A stored K×M: for each k the sliver's MR values are contiguous → k-major slivers
  for (int s = 0; s < m; s += MR) {
    float *d = dst + (size_t)s * kc;
    const int rows = m - s < MR ? m - s : MR;
    const float *src = A + (size_t)p0 * lda + i0 + s;
    for (int k = 0; k < kc; k++) copy_floats(d + (size_t)k * MR, src + (size_t)k * lda, rows);
  }
  return 0;
}

/** Columns [j0, j0+n) × k [p0, p0+kc) of op(B) into NR-column slivers, k-major, zero-padded to NR. */
static void pack_b(const gemm_isa *isa, const float *B, int trans, size_t ldb, int j0, int n, int p0, int kc, float *dst) {
  const int NR = isa->nr;
  for (int s = 0; s < n; s += NR) {
    float *d = dst + (size_t)s * kc;
    const int cols = n - s < NR ? n - s : NR;
    if (!trans) {  // B stored K×N: copy row pieces
      const float *src = B + (size_t)p0 * ldb + j0 + s;
      for (int k = 0; k < kc; k++) {
        float *dk = d + (size_t)k * NR;
        copy_floats(dk, src + (size_t)k * ldb, cols);
        for (int j = cols; j < NR; j++) dk[j] = 0.0f;
      }
    } else {  // B stored N×K: transpose, a few columns at a time so the reads stay sequential
      if (cols < NR)
        for (int k = 0; k < kc; k++)
          for (int j = cols; j < NR; j++) d[(size_t)k * NR + j] = 0.0f;
      for (int j = 0; j < cols; j += 4) {
        const int jn = cols - j < 4 ? cols - j : 4;
        const float *s0 = B + (size_t)(j0 + s + j) * ldb + p0;
        if (jn == 4) {
          const float *s1 = s0 + ldb, *s2 = s1 + ldb, *s3 = s2 + ldb;
          for (int k = 0; k < kc; k++) {
            float *dk = d + (size_t)k * NR + j;
            dk[0] = s0[k];
            dk[1] = s1[k];
            dk[2] = s2[k];
            dk[3] = s3[k];
          }
        } else {
          for (int jj = 0; jj < jn; jj++)
            for (int k = 0; k < kc; k++) d[(size_t)k * NR + j + jj] = s0[(size_t)jj * ldb + k];
        }
      }
    }
  }
}

// ---- tiles and threads ----

typedef struct {
  gemm_ctx *g;
  const gemm_call *c;
  int mc, nc, mt, nt, kb;  // tile size, tiles per product along M and N, k blocks
  long total;              // tiles in the whole call
  _Atomic long next;
} gemm_task;

static void run_tile(gemm_task *t, int w, long tile, long *bkey) {
  const gemm_call *c = t->c;
  const gemm_isa *isa = t->g->isa;
  const long per = (long)t->mt * t->nt;
  const int b = (int)(tile / per);
  const long r = tile % per;
  const int jt = (int)(r / t->mt), it = (int)(r % t->mt);  // consecutive tiles share B's columns
  const int i0 = it * t->mc, j0 = jt * t->nc;
  const int m = c->M - i0 < t->mc ? c->M - i0 : t->mc;
  const int n = c->N - j0 < t->nc ? c->N - j0 : t->nc;
  const float *A = c->A + (size_t)b * c->stride_a, *B = c->B + (size_t)b * c->stride_b;
  float *C = c->C + (size_t)b * c->stride_c + (size_t)i0 * c->N + j0;
  const size_t lda = c->trans_a ? (size_t)c->M : (size_t)c->K, ldb = c->trans_b ? (size_t)c->K : (size_t)c->N;
  const size_t ldc = (size_t)c->N;
  float *ap = t->g->abuf[w], *bp = t->g->bbuf[w];
  const int MR = isa->mr, NR = isa->nr, KC = isa->kc;
  for (int pb = 0; pb < t->kb; pb++) {
    const int p0 = pb * KC;
    const int kc = c->K - p0 < KC ? c->K - p0 : KC;
    const long key = ((long)b * t->nt + jt) * t->kb + pb;
    if (*bkey != key) {
      pack_b(isa, B, c->trans_b, ldb, j0, n, p0, kc, bp);
      *bkey = key;
    }
    const int a_rows = pack_a(isa, A, c->trans_a, lda, i0, m, p0, kc, ap);
    const size_t a_sliver = a_rows ? (size_t)isa->kcp : (size_t)kc;  // floats per row of sliver offset
    const int load_c = c->accumulate || pb > 0;
    for (int js = 0; js < n; js += NR) {
      const int nn = n - js < NR ? n - js : NR;
      const float *bs = bp + (size_t)js * kc;
      for (int is = 0; is < m; is += MR) {
        const int mm = m - is < MR ? m - is : MR;
        isa->ukr(mm, nn, kc, ap + (size_t)is * a_sliver, a_rows, bs, C + (size_t)is * ldc + js, ldc, load_c);
      }
    }
  }
}

static void gemm_task_run(void *ctx, int w, int nworkers) {
  (void)nworkers;
  gemm_task *t = ctx;
  long bkey = -1;  // which B block this worker's buffer holds
  for (;;) {
    const long tile = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
    if (tile >= t->total) return;
    run_tile(t, w, tile, &bkey);
  }
}

static int round_up(int v, int to) { return (v + to - 1) / to * to; }

// Below this many multiply-adds a call runs on the calling thread alone (waking a worker costs ~µs).
#define GEMM_SMALL_FMAS (1L << 18)

void gemm_run(gemm_ctx *g, const gemm_call *c) {
  if (c->count <= 0 || c->M <= 0 || c->N <= 0) return;
  if (c->K <= 0) {
    if (!c->accumulate)
      for (int b = 0; b < c->count; b++) memset(c->C + (size_t)b * c->stride_c, 0, (size_t)c->M * c->N * sizeof(float));
    return;
  }
  const gemm_isa *isa = g->isa;
  const double fmas = (double)c->count * c->M * c->N * c->K;
  const int threads = fmas < (double)GEMM_SMALL_FMAS ? 1 : g->n;
  gemm_task t;
  t.g = g;
  t.c = c;
  t.mc = round_up(c->M, isa->mr) < isa->mc ? round_up(c->M, isa->mr) : isa->mc;
  t.nc = round_up(c->N, isa->nr) < isa->nc ? round_up(c->N, isa->nr) : isa->nc;
  // enough tiles that every thread gets several (tile sizes never change the results)
  for (;;) {
    t.mt = (c->M + t.mc - 1) / t.mc;
    t.nt = (c->N + t.nc - 1) / t.nc;
    const long tiles = (long)c->count * t.mt * t.nt;
    if (threads == 1 || tiles >= 4L * threads) break;
    if (t.mc > isa->mr && (t.mt <= t.nt || t.nc <= isa->nr)) t.mc = round_up((t.mc + 1) / 2, isa->mr);
    else if (t.nc > isa->nr) t.nc = round_up((t.nc + 1) / 2, isa->nr);
    else break;
  }
  t.kb = (c->K + isa->kc - 1) / isa->kc;
  t.total = (long)c->count * t.mt * t.nt;
  atomic_store(&t.next, 0);
  if (threads == 1) gemm_task_run(&t, 0, 1);
  else pool_run(g->pool, gemm_task_run, &t);
}
