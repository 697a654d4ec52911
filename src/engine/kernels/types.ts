/**
 * The compute kernels of the engine: matrix products over stored weights, the SwiGLU activation and
 * a fused expert feed-forward. Three implementations (native addon, WebAssembly SIMD, plain JS) give
 * BITWISE identical results, because every output is defined by one fixed sequence of f32 operations
 * (docs/kernels.md, "The canonical arithmetic"):
 *
 *   dot(w, x)   32 lane sums: lane l (0..31) adds, in column order, round32(w[c] * x[c]) for every
 *               column c ≡ l (mod 32), starting from +0, each step round32(lane + product) — a separate
 *               multiply and add, never a fused multiply-add. Then the lanes are folded by halving:
 *               lane[l] += lane[l+16] (l < 16), then += lane[l+8] (l < 8), +4, +2, +1; the result is lane[0].
 *   int8        the folded sum times the row's f32 scale (one more rounding).
 *   silu(g)     g / (1 + exp32(-g)), exp32 a fixed Cephes-style polynomial in f32 operations.
 *
 * Threads split output rows, never a sum, so results do not depend on the thread count or on timing.
 */

/** Storage type of a weight matrix. */
export type WeightDType = 'f32' | 'bf16' | 'f16' | 'int8';

/**
 * A weight matrix as stored: `rows` × `cols`, row-major, little-endian.
 * `data` may be a view on an LMDB memory map: kernels never write to it, and its byteOffset may be anything
 * (the tests try every offset 0..63; the native decode path reads misaligned rows in aligned chunks). Its
 * contents must not change while any kernel may still use it (the wasm kernels cache a copy keyed by the
 * `data` object). An instance serves one call at a time, from the thread that created it.
 */
export interface WeightMatrix {
  readonly dtype: WeightDType;
  readonly rows: number;
  readonly cols: number;
  /** rows × cols × (4 | 2 | 2 | 1) bytes */
  readonly data: Uint8Array;
  /** int8 only: one f32 scale per row (rows values) */
  readonly scales?: Float32Array;
  /**
   * A scratch matrix (e.g. attention keys of one window) whose bytes may change between calls: the wasm
   * kernels copy it for the call only and do not keep it in their weight cache. Results do not depend on it.
   */
  readonly transient?: boolean;
}

export type KernelsName = 'native' | 'wasm' | 'js';

export interface Kernels {
  readonly name: KernelsName;
  /** Threads that share each call (the calling thread included). */
  readonly threads: number;
  /** The code path in use: 'avx512', 'avx2', 'scalar' (native), 'simd128' (wasm), 'js'. */
  readonly isa: string;

  /**
   * out[t*rows + r] = dot(W[r, :], x[t*cols .. t*cols+cols)) (× scales[r] for int8),
   * for t < tokens, r < rows. out holds at least tokens × rows values, x at least tokens × cols;
   * out must not overlap x.
   */
  matmul(out: Float32Array, w: WeightMatrix, x: Float32Array, tokens: number): void;

  /**
   * matmul(outs[i], ws[i], x, tokens) for every i, in one wake-up of the threads (q/k/v, gate/up).
   * Every ws[i] has the same cols.
   */
  matmulMany(outs: readonly Float32Array[], ws: readonly WeightMatrix[], x: Float32Array, tokens: number): void;

  /** out[i] = silu(gate[i]) * up[i] for i < n (out may be gate or up). */
  swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;

  /**
   * One expert's SwiGLU feed-forward, accumulated:
   *   h[t]   = silu(wGate · x[t]) * (wUp · x[t])          (I = wGate.rows = wUp.rows values, rounded to f32)
   *   out[t] = out[t] + round32(weight[t] * (wDown · h[t]))   (D = wDown.rows values)
   * for t < tokens, where weight[t] = round32(scale[t]), or 1 when scale is omitted.
   * x is [tokens][H] with H = wGate.cols = wUp.cols; wDown.cols = I; out is [tokens][D].
   */
  expertFfn(
    out: Float32Array,
    wGate: WeightMatrix,
    wUp: WeightMatrix,
    wDown: WeightMatrix,
    x: Float32Array,
    tokens: number,
    scale?: ArrayLike<number>,
  ): void;

  /** Stops the threads and frees memory; the instance must not be used afterwards. */
  close(): Promise<void>;
}

export interface LoadKernelsOptions {
  /** Which implementation to try first (default: native, then wasm, then js). BLYAN_KERNELS overrides. */
  readonly prefer?: KernelsName;
  /** Threads per call (default: BLYAN_THREADS, else the number of cores); capped at the number of cores. */
  readonly threads?: number;
  /** wasm only: byte budget of the cache of weight copies in wasm memory (default 2 GiB). */
  readonly wasmCacheBytes?: number;
}
