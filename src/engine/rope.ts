/**
 * Rotary position embedding as in Hugging Face's Llama-family code ("rotate_half" layout, not
 * interleaved): for i < d/2, (x_i, x_{i+d/2}) is rotated by angle pos · θ^(−2i/d).
 * inv_freq and the angle are computed in float32 like the reference, cos/sin then rounded to f32.
 */
export class Rope {
  private readonly invFreq: Float32Array;
  private readonly half: number;
  private cos = new Float32Array(0);
  private sin = new Float32Array(0);
  private cached = 0;

  constructor(
    readonly headDim: number,
    theta: number,
  ) {
    this.half = headDim / 2;
    this.invFreq = new Float32Array(this.half);
    for (let i = 0; i < this.half; i++) this.invFreq[i] = 1 / theta ** Math.fround((2 * i) / headDim);
  }

  private ensure(positions: number): void {
    if (positions <= this.cached) return;
    const n = Math.max(positions, this.cached * 2, 64);
    this.cos = new Float32Array(n * this.half);
    this.sin = new Float32Array(n * this.half);
    for (let p = 0; p < n; p++) {
      for (let i = 0; i < this.half; i++) {
        const angle = Math.fround(p * (this.invFreq[i] as number));
        this.cos[p * this.half + i] = Math.cos(angle);
        this.sin[p * this.half + i] = Math.sin(angle);
      }
    }
    this.cached = n;
  }

  /** Rotates `heads` heads of one token at position `pos`, in place, starting at `offset`. */
  apply(x: Float32Array, offset: number, heads: number, pos: number): void {
    this.ensure(pos + 1);
    const h = this.half;
    for (let head = 0; head < heads; head++) {
      const b = offset + head * this.headDim;
      for (let i = 0; i < h; i++) {
        const c = this.cos[pos * h + i] as number;
        const s = this.sin[pos * h + i] as number;
        const x1 = x[b + i] as number;
        const x2 = x[b + i + h] as number;
        x[b + i] = x1 * c - x2 * s;
        x[b + i + h] = x2 * c + x1 * s;
      }
    }
  }
}
