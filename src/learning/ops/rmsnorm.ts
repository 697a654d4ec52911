/**
 * RMSNorm as in Hugging Face Mixtral: y = w ⊙ x / √(mean(x²) + eps). `rinv[row]` keeps 1/√(mean(x²)+eps)
 * for the backward pass.
 */
export function rmsNormForward(x: Float32Array, w: Float32Array, y: Float32Array, rinv: Float32Array, rows: number, D: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    let ss = 0;
    for (let j = 0; j < D; j++) {
      const v = x[o + j]!;
      ss += v * v;
    }
    const inv = 1 / Math.sqrt(ss / D + eps);
    rinv[r] = inv;
    for (let j = 0; j < D; j++) y[o + j] = x[o + j]! * inv * w[j]!;
  }
}

/**
 * dx += rinv·(g − x̂·mean(g ⊙ x̂)) with g = dy ⊙ w and x̂ = x·rinv (accumulates: in a pre-norm block x also
 * feeds the residual, whose gradient is already in dx); dw += Σ_rows dy ⊙ x̂ unless dw is null.
 */
export function rmsNormBackward(
  x: Float32Array,
  w: Float32Array,
  rinv: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  dw: Float32Array | null,
  rows: number,
  D: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    const inv = rinv[r]!;
    let dot = 0;
    for (let j = 0; j < D; j++) dot += dy[o + j]! * w[j]! * x[o + j]!;
    const c = (dot * inv * inv) / D;
    for (let j = 0; j < D; j++) dx[o + j] = dx[o + j]! + inv * (dy[o + j]! * w[j]! - x[o + j]! * c);
    if (dw !== null) for (let j = 0; j < D; j++) dw[j] = dw[j]! + dy[o + j]! * x[o + j]! * inv;
  }
}
