/** Mean cross-entropy of n rows of logits [n, V] against target ids (summed in f64, in row order). */
export function crossEntropyForward(logits: Float32Array, targets: Int32Array, n: number, V: number): number {
  let total = 0;
  for (let t = 0; t < n; t++) {
    const o = t * V;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < V; j++) if (logits[o + j]! > max) max = logits[o + j]!;
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[o + j]! - max);
    total += Math.log(sum) + max - logits[o + targets[t]!]!;
  }
  return total / n;
}

/** dLogits = scale · (softmax(logits) − onehot(target)) / n: the gradient of scale · mean CE. */
export function crossEntropyBackward(logits: Float32Array, targets: Int32Array, dLogits: Float32Array, n: number, V: number, scale = 1): void {
  const c = scale / n;
  for (let t = 0; t < n; t++) {
    const o = t * V;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < V; j++) if (logits[o + j]! > max) max = logits[o + j]!;
    let sum = 0;
    for (let j = 0; j < V; j++) {
      const e = Math.exp(logits[o + j]! - max);
      dLogits[o + j] = e;
      sum += e;
    }
    const inv = c / sum;
    for (let j = 0; j < V; j++) dLogits[o + j] = dLogits[o + j]! * inv;
    dLogits[o + targets[t]!] = dLogits[o + targets[t]!]! - c;
  }
}
