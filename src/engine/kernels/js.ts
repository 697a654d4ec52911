/**
 * Plain-JS kernels: the oracle of the test suite and the last fallback. They perform the canonical
 * f32 steps (f32math.ts) one by one, so their results equal the native and wasm kernels bit for bit;
 * they are ~20–50× slower.
 */
import { checkExpertFfn, checkMatmul, checkMatmulMany, checkSwiglu } from './check.ts';
import { fold32, LANES, swiglu32 } from './f32math.ts';
import type { Kernels, WeightMatrix } from './types.ts';

const fr = Math.fround;

let f16Table: Float32Array | null = null;

/** All 65536 f16 bit patterns as f32 (exact). */
function f16ToF32Table(): Float32Array {
  if (f16Table !== null) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = s * m * 2 ** -24;
    else if (e === 31) t[h] = m === 0 ? s * Number.POSITIVE_INFINITY : Number.NaN;
    else t[h] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  f16Table = t;
  return t;
}

/** Decodes row r of w into buf (exact: every stored value is representable in f32). */
export function decodeRow(w: WeightMatrix, r: number, buf: Float32Array): void {
  const { cols, data } = w;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (w.dtype) {
    case 'f32': {
      const o = r * cols * 4;
      for (let c = 0; c < cols; c++) buf[c] = dv.getFloat32(o + c * 4, true);
      return;
    }
    case 'bf16': {
      const o = r * cols * 2;
      const u32 = new Uint32Array(buf.buffer, buf.byteOffset, cols);
      for (let c = 0; c < cols; c++) u32[c] = dv.getUint16(o + c * 2, true) << 16;
      return;
    }
    case 'f16': {
      const t = f16ToF32Table();
      const o = r * cols * 2;
      for (let c = 0; c < cols; c++) buf[c] = t[dv.getUint16(o + c * 2, true)] as number;
      return;
    }
    case 'int8': {
      const o = r * cols;
      for (let c = 0; c < cols; c++) buf[c] = dv.getInt8(o + c);
      return;
    }
  }
}

const lanes = new Float64Array(LANES);

/** The canonical dot product of a decoded row with x[xo .. xo+cols): 32 lane sums, then fold32. */
export function dot32(row: Float32Array, x: Float32Array, xo: number, cols: number): number {
  lanes.fill(0);
  for (let c = 0; c < cols; c++) {
    const l = c & (LANES - 1);
    lanes[l] = fr((lanes[l] as number) + fr((row[c] as number) * (x[xo + c] as number)));
  }
  return fold32(lanes);
}

/** out[t*outStride + r] = dot(row r, x[t]) for all tokens; int8 rows times their scale. */
function matmulInto(out: Float32Array, w: WeightMatrix, x: Float32Array, tokens: number): void {
  const row = new Float32Array(w.cols);
  for (let r = 0; r < w.rows; r++) {
    decodeRow(w, r, row);
    const scale = w.dtype === 'int8' ? (w.scales?.[r] as number) : 1;
    for (let t = 0; t < tokens; t++) {
      const s = dot32(row, x, t * w.cols, w.cols);
      out[t * w.rows + r] = w.dtype === 'int8' ? fr(s * scale) : s;
    }
  }
}

export class JsKernels implements Kernels {
  readonly name = 'js' as const;
  readonly threads = 1;
  readonly isa = 'js';

  matmul(out: Float32Array, w: WeightMatrix, x: Float32Array, tokens: number): void {
    checkMatmul(out, w, x, tokens);
    matmulInto(out, w, x, tokens);
  }

  matmulMany(outs: readonly Float32Array[], ws: readonly WeightMatrix[], x: Float32Array, tokens: number): void {
    checkMatmulMany(outs, ws, x, tokens);
    for (const [i, w] of ws.entries()) matmulInto(outs[i] as Float32Array, w, x, tokens);
  }

  swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
    checkSwiglu(out, gate, up, n);
    for (let i = 0; i < n; i++) out[i] = swiglu32(gate[i] as number, up[i] as number);
  }

  expertFfn(out: Float32Array, wGate: WeightMatrix, wUp: WeightMatrix, wDown: WeightMatrix, x: Float32Array, tokens: number, scale?: ArrayLike<number>): void {
    checkExpertFfn(out, wGate, wUp, wDown, x, tokens, scale);
    const I = wGate.rows;
    const D = wDown.rows;
    const g = new Float32Array(tokens * I);
    const u = new Float32Array(tokens * I);
    matmulInto(g, wGate, x, tokens);
    matmulInto(u, wUp, x, tokens);
    for (let i = 0; i < g.length; i++) g[i] = swiglu32(g[i] as number, u[i] as number);
    const y = new Float32Array(tokens * D);
    matmulInto(y, wDown, g, tokens);
    for (let t = 0; t < tokens; t++) {
      const s = scale === undefined ? 1 : fr(scale[t] as number);
      for (let r = 0; r < D; r++) out[t * D + r] = fr((out[t * D + r] as number) + fr(s * (y[t * D + r] as number)));
    }
  }

  async close(): Promise<void> {}
}
