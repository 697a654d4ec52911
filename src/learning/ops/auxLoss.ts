/**
 * The Switch/Mixtral load-balancing loss, as transformers' `load_balancing_loss_func` computes it: over the
 * tokens of all layers concatenated (M = layers × tokens),
 *   aux = E · Σ_slot Σ_e mean_t(onehot(top-k)[t, slot, e]) · mean_t(probs[t, e])
 * The one-hot counts carry no gradient, so d aux / d probs[t, e] = E · count_e / M² for every token of
 * every layer: a constant per expert.
 */
export interface AuxLoss {
  readonly value: number;
  /** How often each expert was chosen, over every layer, token and slot. */
  readonly counts: Float64Array;
  /** Tokens of all layers (M). */
  readonly tokens: number;
}

export function auxLossForward(probs: readonly Float32Array[], topIdx: readonly Int32Array[], n: number, E: number, k: number): AuxLoss {
  const counts = new Float64Array(E);
  const probSum = new Float64Array(E);
  for (const [l, p] of probs.entries()) {
    const idx = topIdx[l]!;
    for (let i = 0; i < n * k; i++) counts[idx[i]!]! += 1;
    for (let t = 0; t < n; t++) for (let e = 0; e < E; e++) probSum[e]! += p[t * E + e]!;
  }
  const M = probs.length * n;
  let value = 0;
  for (let e = 0; e < E; e++) value += (counts[e]! / M) * (probSum[e]! / M);
  return { value: E * value, counts, tokens: M };
}

/** d(coef · aux)/d probs[t, e], the same for every token: E · coef · count_e / M². */
export function auxLossGrad(aux: AuxLoss, coef: number, out: Float64Array): void {
  const E = aux.counts.length;
  const M = aux.tokens;
  for (let e = 0; e < E; e++) out[e] = (coef * E * aux.counts[e]!) / (M * M);
}
