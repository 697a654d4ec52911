/**
 * Mixtral routing for n tokens: probs = softmax(logits) in f32 over E experts, the top-k experts by
 * probability (ties → lower index, as torch.topk returns them here), and their probabilities
 * renormalised to sum to 1. Gradients flow through the renormalised weights, not the discrete choice.
 */
export function routerForward(logits: Float32Array, probs: Float32Array, topIdx: Int32Array, topW: Float32Array, n: number, E: number, k: number): void {
  for (let t = 0; t < n; t++) {
    const o = t * E;
    let max = Number.NEGATIVE_INFINITY;
    for (let e = 0; e < E; e++) if (logits[o + e]! > max) max = logits[o + e]!;
    let sum = 0;
    for (let e = 0; e < E; e++) {
      const v = Math.exp(logits[o + e]! - max);
      probs[o + e] = v;
      sum += v;
    }
    for (let e = 0; e < E; e++) probs[o + e] = probs[o + e]! / sum;
    // Selection of the k largest, in descending order; strict > keeps the lower index on ties.
    let s = 0;
    for (let slot = 0; slot < k; slot++) {
      let best = -1;
      let bestP = Number.NEGATIVE_INFINITY;
      for (let e = 0; e < E; e++) {
        let taken = false;
        for (let q = 0; q < slot; q++) if (topIdx[t * k + q] === e) taken = true;
        if (!taken && probs[o + e]! > bestP) {
          bestP = probs[o + e]!;
          best = e;
        }
      }
      topIdx[t * k + slot] = best;
      s += bestP;
    }
    for (let slot = 0; slot < k; slot++) topW[t * k + slot] = probs[o + topIdx[t * k + slot]!]! / s;
  }
}

/**
 * Backward of routerForward. `dProbs` comes in holding any gradient that reaches the probabilities
 * directly (the load-balancing loss), and gains the renormalisation's share: dp_i += (dw_i − Σ_j dw_j·w_j) / s.
 * Then dLogits = p ⊙ (dp − Σ p ⊙ dp) (softmax backward). dProbs is used as scratch.
 */
export function routerBackward(
  probs: Float32Array,
  topIdx: Int32Array,
  topW: Float32Array,
  dTopW: Float32Array,
  dProbs: Float32Array,
  dLogits: Float32Array,
  n: number,
  E: number,
  k: number,
): void {
  for (let t = 0; t < n; t++) {
    const o = t * E;
    let s = 0;
    let dw = 0;
    for (let slot = 0; slot < k; slot++) {
      s += probs[o + topIdx[t * k + slot]!]!;
      dw += dTopW[t * k + slot]! * topW[t * k + slot]!;
    }
    for (let slot = 0; slot < k; slot++) {
      const e = topIdx[t * k + slot]!;
      dProbs[o + e] = dProbs[o + e]! + (dTopW[t * k + slot]! - dw) / s;
    }
    let dot = 0;
    for (let e = 0; e < E; e++) dot += probs[o + e]! * dProbs[o + e]!;
    for (let e = 0; e < E; e++) dLogits[o + e] = probs[o + e]! * (dProbs[o + e]! - dot);
  }
}
