/**
 * Element-wise and per-row operations of the transformer, in f32 like the Hugging Face reference
 * (which computes norms, softmax and RoPE in float32). These are cheap next to the matrix products,
 * which go to the kernels. Sums use a fixed left-to-right order so results never depend on threads.
 */

/** out[t] = x[t] / sqrt(mean(x[t]²) + eps) * weight, for each of `tokens` rows of width `n`. */
export function rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, n: number, tokens: number, eps: number): void {
  for (let t = 0; t < tokens; t++) {
    const o = t * n;
    let ss = 0;
    for (let i = 0; i < n; i++) {
      const v = x[o + i] as number;
      ss += v * v;
    }
    const inv = Math.fround(1 / Math.sqrt(Math.fround(Math.fround(ss / n) + eps)));
    for (let i = 0; i < n; i++) out[o + i] = Math.fround((x[o + i] as number) * inv) * (weight[i] as number);
  }
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** out[i] = silu(gate[i]) * up[i] */
export function swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = silu(gate[i] as number) * (up[i] as number);
}

/** In-place softmax over `n` values starting at `offset`. */
export function softmaxInPlace(x: Float32Array, offset: number, n: number): void {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) max = Math.max(max, x[offset + i] as number);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp((x[offset + i] as number) - max);
    x[offset + i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) x[offset + i] = (x[offset + i] as number) / sum;
}

export function addInPlace(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) + (y[i] as number);
}

/** Adds a bias vector of width n to each of `tokens` rows. */
export function addBias(x: Float32Array, bias: Float32Array, n: number, tokens: number): void {
  for (let t = 0; t < tokens; t++) for (let i = 0; i < n; i++) x[t * n + i] = (x[t * n + i] as number) + (bias[i] as number);
}

export function clampInPlace(x: Float32Array, limit: number): void {
  for (let i = 0; i < x.length; i++) x[i] = Math.min(limit, Math.max(-limit, x[i] as number));
}
