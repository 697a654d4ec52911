/** out[t] = table[ids[t]] for n tokens; rows of width D. */
export function embeddingForward(table: Float32Array, ids: Int32Array, out: Float32Array, n: number, D: number): void {
  for (let t = 0; t < n; t++) {
    const r = ids[t]! * D;
    out.set(table.subarray(r, r + D), t * D);
  }
}

/** dTable[ids[t]] += dOut[t], in token order (a fixed summation order). */
export function embeddingBackward(dOut: Float32Array, ids: Int32Array, dTable: Float32Array, n: number, D: number): void {
  for (let t = 0; t < n; t++) {
    const r = ids[t]! * D;
    const o = t * D;
    for (let j = 0; j < D; j++) dTable[r + j] = dTable[r + j]! + dOut[o + j]!;
  }
}
