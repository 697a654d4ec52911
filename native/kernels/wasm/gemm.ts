// WebAssembly SIMD f32 GEMM for training (AssemblyScript, built by build.mjs into out/gemm.wasm): the
// fallback of native/kernels/gemm*.c where the addon does not build. Same structure: per KC block of k,
// op(B) is packed into NR-column slivers and op(A) into MR-row slivers (both k-major, zero-padded), and
// a 4×8 micro-kernel (eight f32x4 accumulators) runs over them; edge tiles go through a padded 4×8 tile.
// Single-threaded. Memory is imported; the host (src/learning/gemm/wasm.ts) owns every address. Sizes
// in elements, addresses in bytes. Multiply then add (no fused multiply-add in wasm SIMD).

const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 128;

/** Bytes of scratch sgemm needs for N columns: packed A block, packed B block, one edge tile. */
export function scratchBytes(N: i32): usize {
  const np = (N + NR - 1) / NR * NR;
  return <usize>(MC * KC * 4) + <usize>(KC * np * 4) + <usize>(MR * NR * 4);
}

@inline function ukr(kc: i32, ap: usize, bp: usize, c: usize, ldc: usize, loadC: bool): void {
  // ldc in bytes
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
  if (loadC) {
    c00 = v128.load(c);
    c01 = v128.load(c, 16);
    c10 = v128.load(c1);
    c11 = v128.load(c1, 16);
    c20 = v128.load(c2);
    c21 = v128.load(c2, 16);
    c30 = v128.load(c3);
    c31 = v128.load(c3, 16);
  }
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    ap += 16;
    bp += 32;
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c1, c10);
  v128.store(c1, c11, 16);
  v128.store(c2, c20);
  v128.store(c2, c21, 16);
  v128.store(c3, c30);
  v128.store(c3, c31, 16);
}

/** Rows [i0, i0+m) × k [p0, p0+kc) of op(A) into k-major MR-row slivers, zero rows past m. */
function packA(a: usize, transA: bool, M: i32, K: i32, i0: i32, m: i32, p0: i32, kc: i32, dst: usize): void {
  for (let s = 0; s < m; s += MR) {
    const rows = min(MR, m - s);
    const d = dst + (<usize>s * <usize>kc << 2);
    for (let r = 0; r < MR; r++) {
      if (r >= rows) {
        for (let k = 0; k < kc; k++) store<f32>(d + (<usize>(k * MR + r) << 2), 0);
        continue;
      }
      const i = i0 + s + r;
      if (!transA) {
        const src = a + (<usize>(<usize>i * <usize>K + <usize>p0) << 2);
        for (let k = 0; k < kc; k++) store<f32>(d + (<usize>(k * MR + r) << 2), load<f32>(src + (<usize>k << 2)));
      } else {
        const src = a + (<usize>(<usize>p0 * <usize>M + <usize>i) << 2);
        const step = <usize>M << 2;
        for (let k = 0; k < kc; k++) store<f32>(d + (<usize>(k * MR + r) << 2), load<f32>(src + <usize>k * step));
      }
    }
  }
}

/** Columns [0, N) × k [p0, p0+kc) of op(B) into k-major NR-column slivers, zero-padded to NR. */
function packB(b: usize, transB: bool, N: i32, K: i32, p0: i32, kc: i32, dst: usize): void {
  for (let s = 0; s < N; s += NR) {
    const cols = min(NR, N - s);
    const d = dst + (<usize>s * <usize>kc << 2);
    for (let j = 0; j < NR; j++) {
      if (j >= cols) {
        for (let k = 0; k < kc; k++) store<f32>(d + (<usize>(k * NR + j) << 2), 0);
        continue;
      }
      if (!transB) {
        const src = b + (<usize>(<usize>p0 * <usize>N + <usize>(s + j)) << 2);
        const step = <usize>N << 2;
        for (let k = 0; k < kc; k++) store<f32>(d + (<usize>(k * NR + j) << 2), load<f32>(src + <usize>k * step));
      } else {
        const src = b + (<usize>(<usize>(s + j) * <usize>K + <usize>p0) << 2);
        for (let k = 0; k < kc; k++) store<f32>(d + (<usize>(k * NR + j) << 2), load<f32>(src + (<usize>k << 2)));
      }
    }
  }
}

function product(transA: bool, transB: bool, M: i32, N: i32, K: i32, a: usize, b: usize, c: usize, accumulate: bool, scratch: usize): void {
  const ap = scratch;
  const bp = ap + <usize>(MC * KC * 4);
  const np = (N + NR - 1) / NR * NR;
  const tile = bp + <usize>(KC * np * 4);
  const ldc = <usize>N << 2;
  for (let p0 = 0; p0 < K; p0 += KC) {
    const kc = min(KC, K - p0);
    const loadC = accumulate || p0 > 0;
    packB(b, transB, N, K, p0, kc, bp);
    for (let i0 = 0; i0 < M; i0 += MC) {
      const m = min(MC, M - i0);
      packA(a, transA, M, K, i0, m, p0, kc, ap);
      for (let js = 0; js < N; js += NR) {
        const nn = min(NR, N - js);
        const bs = bp + (<usize>js * <usize>kc << 2);
        for (let is = 0; is < m; is += MR) {
          const mm = min(MR, m - is);
          const as = ap + (<usize>is * <usize>kc << 2);
          const cp = c + (<usize>(<usize>(i0 + is) * <usize>N + <usize>js) << 2);
          if (mm == MR && nn == NR) {
            ukr(kc, as, bs, cp, ldc, loadC);
            continue;
          }
          // edge: through a padded MR×NR tile
          for (let r = 0; r < MR; r++)
            for (let j = 0; j < NR; j++) {
              const v: f32 = loadC && r < mm && j < nn ? load<f32>(cp + (<usize>r * ldc) + (<usize>j << 2)) : 0;
              store<f32>(tile + (<usize>(r * NR + j) << 2), v);
            }
          ukr(kc, as, bs, tile, <usize>(NR * 4), true);
          for (let r = 0; r < mm; r++)
            for (let j = 0; j < nn; j++) store<f32>(cp + (<usize>r * ldc) + (<usize>j << 2), load<f32>(tile + (<usize>(r * NR + j) << 2)));
        }
      }
    }
  }
}

/**
 * count products; product i reads A at a + i·sa·4, B at b + i·sb·4 and writes C at c + i·sc·4
 * (sa, sb, sc in elements). scratch: scratchBytes(N) bytes, 16-byte aligned.
 */
export function sgemm(
  count: i32,
  transA: i32,
  transB: i32,
  M: i32,
  N: i32,
  K: i32,
  a: usize,
  sa: usize,
  b: usize,
  sb: usize,
  c: usize,
  sc: usize,
  accumulate: i32,
  scratch: usize,
): void {
  if (M <= 0 || N <= 0) return;
  for (let i = 0; i < count; i++) {
    const ci = c + (<usize>i * sc << 2);
    if (K <= 0) {
      if (accumulate == 0) memory.fill(ci, 0, <usize>M * <usize>N << 2);
      continue;
    }
    product(transA != 0, transB != 0, M, N, K, a + (<usize>i * sa << 2), b + (<usize>i * sb << 2), ci, accumulate != 0, scratch);
  }
}
