/**
 * Keys and values of every past position, per layer, so a decode step attends over the prefix
 * without recomputing it. Grows by doubling; never larger than the model's context.
 */
export class KvCache {
  private keys: Float32Array[];
  private values: Float32Array[];
  private capacity: number;
  length = 0;

  constructor(
    readonly layers: number,
    readonly kvDim: number,
    readonly maxPositions: number,
    initial = 64,
  ) {
    this.capacity = Math.min(initial, maxPositions);
    this.keys = Array.from({ length: layers }, () => new Float32Array(this.capacity * kvDim));
    this.values = Array.from({ length: layers }, () => new Float32Array(this.capacity * kvDim));
  }

  /** Makes room for positions up to `positions` (exclusive). */
  reserve(positions: number): void {
    if (positions <= this.capacity) return;
    const cap = Math.min(this.maxPositions, Math.max(positions, this.capacity * 2));
    const grow = (arr: Float32Array[]) =>
      arr.map((a) => {
        const b = new Float32Array(cap * this.kvDim);
        b.set(a.subarray(0, this.length * this.kvDim));
        return b;
      });
    this.keys = grow(this.keys);
    this.values = grow(this.values);
    this.capacity = cap;
  }

  keysOf(layer: number): Float32Array {
    return this.keys[layer] as Float32Array;
  }

  valuesOf(layer: number): Float32Array {
    return this.values[layer] as Float32Array;
  }

  /** Bytes held, for metrics. */
  bytes(): number {
    return 2 * this.layers * this.capacity * this.kvDim * 4;
  }
}
