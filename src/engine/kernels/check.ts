import { BlyanError } from '../../errors.ts';
import type { WeightDType, WeightMatrix } from './types.ts';

/** Bytes per stored element. */
export const DTYPE_BYTES: Readonly<Record<WeightDType, number>> = { f32: 4, bf16: 2, f16: 2, int8: 1 };

/** Numeric codes shared with the native and wasm kernels. */
export const DTYPE_CODE: Readonly<Record<WeightDType, number>> = { f32: 0, bf16: 1, f16: 2, int8: 3 };

function bad(message: string, data: Record<string, unknown> = {}): never {
  throw new BlyanError('ENGINE_BAD_INPUT', message, data);
}

function count(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) bad(`kernels: ${what} must be a whole number ≥ 0, got ${n}`, { [what]: n });
}

/** Checks a weight matrix before any kernel reads its bytes: shape, byte length, dtype and int8 scales. */
export function checkMatrix(w: WeightMatrix, what = 'w'): void {
  count(w.rows, `${what}.rows`);
  count(w.cols, `${what}.cols`);
  const esize = DTYPE_BYTES[w.dtype];
  if (esize === undefined) bad(`kernels: ${what}.dtype "${String(w.dtype)}" is not one of f32, bf16, f16, int8`);
  if (!(w.data instanceof Uint8Array)) bad(`kernels: ${what}.data must be a Uint8Array`);
  const need = w.rows * w.cols * esize;
  if (w.data.byteLength < need) {
    bad(`kernels: ${what} is ${w.rows}×${w.cols} ${w.dtype} (${need} bytes) but data holds ${w.data.byteLength}`, { need, have: w.data.byteLength });
  }
  if (w.dtype === 'int8') {
    if (!(w.scales instanceof Float32Array) || w.scales.length < w.rows) {
      bad(`kernels: ${what} is int8 and needs ${w.rows} f32 row scales, has ${w.scales?.length ?? 'none'}`);
    }
  }
}

function checkVector(v: Float32Array, need: number, what: string): void {
  if (!(v instanceof Float32Array)) bad(`kernels: ${what} must be a Float32Array`);
  if (v.length < need) bad(`kernels: ${what} needs ${need} values, has ${v.length}`, { need, have: v.length });
}

function overlaps(a: Float32Array, b: Float32Array): boolean {
  if (a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

export function checkMatmul(out: Float32Array, w: WeightMatrix, x: Float32Array, tokens: number): void {
  count(tokens, 'tokens');
  checkMatrix(w);
  checkVector(out, tokens * w.rows, 'out');
  checkVector(x, tokens * w.cols, 'x');
  if (tokens > 0 && w.rows > 0 && overlaps(out, x)) bad('kernels: out must not overlap x');
}

export function checkMatmulMany(outs: readonly Float32Array[], ws: readonly WeightMatrix[], x: Float32Array, tokens: number): void {
  if (outs.length !== ws.length) bad(`kernels: matmulMany got ${outs.length} outputs for ${ws.length} matrices`);
  const cols = ws[0]?.cols ?? 0;
  for (const [i, w] of ws.entries()) {
    if (w.cols !== cols) bad(`kernels: matmulMany matrices must share cols: ws[0] has ${cols}, ws[${i}] has ${w.cols}`);
    checkMatmul(outs[i] as Float32Array, w, x, tokens);
  }
}

export function checkSwiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  count(n, 'n');
  checkVector(out, n, 'out');
  checkVector(gate, n, 'gate');
  checkVector(up, n, 'up');
}

export function checkExpertFfn(
  out: Float32Array,
  wGate: WeightMatrix,
  wUp: WeightMatrix,
  wDown: WeightMatrix,
  x: Float32Array,
  tokens: number,
  scale: ArrayLike<number> | undefined,
): void {
  count(tokens, 'tokens');
  checkMatrix(wGate, 'wGate');
  checkMatrix(wUp, 'wUp');
  checkMatrix(wDown, 'wDown');
  if (wUp.rows !== wGate.rows || wUp.cols !== wGate.cols) {
    bad(`kernels: wUp is ${wUp.rows}×${wUp.cols} but wGate is ${wGate.rows}×${wGate.cols}`);
  }
  if (wDown.cols !== wGate.rows) bad(`kernels: wDown has ${wDown.cols} cols but the expert's inner size is ${wGate.rows}`);
  checkVector(x, tokens * wGate.cols, 'x');
  checkVector(out, tokens * wDown.rows, 'out');
  if (tokens > 0 && wDown.rows > 0 && overlaps(out, x)) bad('kernels: out must not overlap x');
  if (scale !== undefined && scale.length < tokens) bad(`kernels: scale needs ${tokens} values, has ${scale.length}`);
}
