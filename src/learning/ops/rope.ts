/**
 * Rotary tables for positions 0..context-1, computed exactly as the engine (src/engine/rope.ts) and HF
 * Mixtral do: inv_freq and the angle in f32, cos/sin rounded to f32. "rotate_half" layout: for i < d/2,
 * (x_i, x_{i+d/2}) is rotated by pos·θ^(−2i/d).
 */
export class RopeTable {
  readonly cos: Float32Array;
  readonly sin: Float32Array;
  readonly half: number;

  constructor(
    readonly headDim: number,
    readonly context: number,
    theta: number,
  ) {
    const half = headDim / 2;
    this.half = half;
    const invFreq = new Float32Array(half);
    for (let i = 0; i < half; i++) invFreq[i] = 1 / theta ** Math.fround((2 * i) / headDim);
    this.cos = new Float32Array(context * half);
    this.sin = new Float32Array(context * half);
    for (let p = 0; p < context; p++) {
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(p * invFreq[i]!);
        this.cos[p * half + i] = Math.cos(angle);
        this.sin[p * half + i] = Math.sin(angle);
      }
    }
  }
}

/**
 * Token-major [B, T, H·hd] → head-major [B, H, T, hd] (each head's T×hd block contiguous, for the
 * per-head attention products), rotating by RoPE on the way when `rope` is given (q and k, not v).
 * The backward of this op is mergeHeads with the same rope (which rotates back).
 */
export function splitHeads(x: Float32Array, out: Float32Array, B: number, T: number, H: number, hd: number, rope: RopeTable | null): void {
  const D = H * hd;
  const half = hd >> 1;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const src = (b * T + t) * D;
      for (let h = 0; h < H; h++) {
        const s = src + h * hd;
        const d = ((b * H + h) * T + t) * hd;
        if (rope === null) {
          for (let i = 0; i < hd; i++) out[d + i] = x[s + i]!;
          continue;
        }
        const c0 = t * half;
        for (let i = 0; i < half; i++) {
          const c = rope.cos[c0 + i]!;
          const sn = rope.sin[c0 + i]!;
          const x1 = x[s + i]!;
          const x2 = x[s + i + half]!;
          out[d + i] = x1 * c - x2 * sn;
          out[d + i + half] = x2 * c + x1 * sn;
        }
      }
    }
  }
}

/**
 * Head-major [B, H, T, hd] → token-major [B, T, H·hd]. With `rope` it applies the inverse rotation (the
 * transpose of splitHeads' rotation), so mergeHeads(·, rope) is the backward of splitHeads(·, rope).
 */
export function mergeHeads(xh: Float32Array, out: Float32Array, B: number, T: number, H: number, hd: number, rope: RopeTable | null): void {
  const D = H * hd;
  const half = hd >> 1;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const dst = (b * T + t) * D;
      for (let h = 0; h < H; h++) {
        const d = dst + h * hd;
        const s = ((b * H + h) * T + t) * hd;
        if (rope === null) {
          for (let i = 0; i < hd; i++) out[d + i] = xh[s + i]!;
          continue;
        }
        const c0 = t * half;
        for (let i = 0; i < half; i++) {
          const c = rope.cos[c0 + i]!;
          const sn = rope.sin[c0 + i]!;
          const y1 = xh[s + i]!;
          const y2 = xh[s + i + half]!;
          out[d + i] = y1 * c + y2 * sn;
          out[d + i + half] = y2 * c - y1 * sn;
        }
      }
    }
  }
}
