// f32 GEMM for training (docs/kernels.md "Training GEMM"; src/learning/gemm/types.ts is the contract).
//
// C (M×N) = op(A)·op(B) (+ C when accumulating), row-major, op = optional transpose; a batch of `count`
// such products at element strides. Packing + register blocking: per instruction set a micro-kernel
// computes an MR×NR block of C from packed slivers of A and B over KC values of k; KC is fixed per
// instruction set, so every element of C is one fixed sequence of fused multiply-adds (k in order,
// C reloaded between KC blocks) whatever the thread count or tiling. Threads split C into tiles and
// never a sum over k.
#ifndef BLYAN_GEMM_H
#define BLYAN_GEMM_H

#include <stddef.h>

#include "kernels.h"

/**
 * The micro-kernel: C[r*ldc + j] (r < m ≤ MR, j < n ≤ NR) = (load_c ? C : 0) + Σ_k a(r,k)·b[k*NR + j].
 * a is a packed sliver of A, either k-major (a_rows = 0: a(r,k) = a[k*MR + r]) or row-major with the
 * instruction set's fixed row stride (a_rows = 1: a(r,k) = a[r*KCP + k]). b is zero-padded to NR columns.
 */
typedef void (*gemm_ukr_fn)(int m, int n, int kc, const float *a, int a_rows, const float *b, float *c, size_t ldc, int load_c);

typedef struct {
  const char *name;
  int mr, nr;  // micro-tile
  int kc;      // k block (fixed: part of the arithmetic)
  int kcp;     // row stride of row-major packed A slivers (kc padded so rows fall in different cache sets)
  int mc, nc;  // largest C tile one thread packs for (multiples of mr, nr)
  gemm_ukr_fn ukr;
} gemm_isa;

extern const gemm_isa gemm_isa_scalar;
#ifdef BLYAN_X86
extern const gemm_isa gemm_isa_avx2;
extern const gemm_isa gemm_isa_avx512;
#endif

/** One call: count products, matrix i of A, B, C at element offset i*stride. */
typedef struct {
  int count;
  int trans_a, trans_b, accumulate;
  int M, N, K;
  const float *A, *B;
  float *C;
  size_t stride_a, stride_b, stride_c;
} gemm_call;

typedef struct gemm_ctx gemm_ctx;

/** threads ≥ 1 (the caller is worker 0); spin_ns as in pool_create. NULL when out of memory. */
gemm_ctx *gemm_ctx_create(int threads, long spin_ns, const gemm_isa *isa);
void gemm_ctx_destroy(gemm_ctx *g);
int gemm_ctx_threads(const gemm_ctx *g);
const gemm_isa *gemm_ctx_isa(const gemm_ctx *g);
/** Runs the call (arguments already checked). Synchronous. */
void gemm_run(gemm_ctx *g, const gemm_call *call);

#endif
