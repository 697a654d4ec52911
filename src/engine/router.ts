/**
 * Router decision for one token: softmax over all expert logits (f32), the top-k by probability
 * (ties → lower expert index, which torch.topk also returns for these margins), optionally renormalised.
 */
export interface Routing {
  /** Expert indices, most probable first. */
  readonly experts: number[];
  /** Their weights in the weighted sum (renormalised when the model says so). */
  readonly weights: number[];
}

export function route(logits: Float32Array, offset: number, numExperts: number, topK: number, renormalize: boolean): Routing {
  const probs = new Float32Array(numExperts);
  let max = Number.NEGATIVE_INFINITY;
  for (let e = 0; e < numExperts; e++) max = Math.max(max, logits[offset + e] as number);
  let sum = 0;
  for (let e = 0; e < numExperts; e++) {
    const v = Math.exp((logits[offset + e] as number) - max);
    probs[e] = v;
    sum += v;
  }
  for (let e = 0; e < numExperts; e++) probs[e] = (probs[e] as number) / sum;
  const order = Array.from({ length: numExperts }, (_, e) => e).sort((a, b) => (probs[b] as number) - (probs[a] as number) || a - b);
  const experts = order.slice(0, topK);
  let weights = experts.map((e) => probs[e] as number);
  if (renormalize) {
    const s = weights.reduce((a, b) => a + b, 0);
    weights = weights.map((w) => Math.fround(w / s));
  }
  return { experts, weights };
}
