/**
 * Argument checks shared by every Gemm implementation (types.ts): run before any element is read or
 * written, so a wrong call throws BlyanError('ENGINE_BAD_INPUT') instead of reading out of bounds.
 */
import { BlyanError } from '../../errors.ts';

const MAX_DIM = 2 ** 31 - 1;

function bad(message: string, data: Record<string, unknown> = {}): never {
  throw new BlyanError('ENGINE_BAD_INPUT', `gemm: ${message}`, data);
}

function dim(v: number, what: string, max = MAX_DIM): void {
  if (!Number.isSafeInteger(v) || v < 0 || v > max) bad(`${what} must be a whole number in [0, ${max}], got ${String(v)}`, { [what]: v });
}

function flag(v: boolean, what: string): void {
  if (typeof v !== 'boolean') bad(`${what} must be a boolean, got ${typeof v}`);
}

function array(v: Float32Array, what: string): void {
  if (!(v instanceof Float32Array)) bad(`${what} must be a Float32Array`);
}

/** Elements a batch touches: (count − 1)·stride + rows·cols, 0 when empty. */
export function extent(count: number, stride: number, rows: number, cols: number): number {
  const one = rows * cols;
  return count === 0 || one === 0 ? 0 : (count - 1) * stride + one;
}

function fits(v: Float32Array, need: number, what: string, shape: string): void {
  if (need > v.length) bad(`${what} needs ${need} values (${shape}) but has ${v.length}`, { need, have: v.length });
}

/** Whether the element ranges [0, an) of a and [0, bn) of b share bytes. */
function overlaps(a: Float32Array, an: number, b: Float32Array, bn: number): boolean {
  if (an === 0 || bn === 0 || a.buffer !== b.buffer) return false;
  const a0 = a.byteOffset, b0 = b.byteOffset;
  return a0 < b0 + 4 * bn && b0 < a0 + 4 * an;
}

/** Checks a batched call (sgemm is the batch of one with zero strides). */
export function checkSgemmBatch(
  count: number,
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  strideA: number,
  B: Float32Array,
  strideB: number,
  C: Float32Array,
  strideC: number,
  accumulate: boolean,
): void {
  dim(count, 'count');
  flag(transA, 'transA');
  flag(transB, 'transB');
  flag(accumulate, 'accumulate');
  dim(M, 'M');
  dim(N, 'N');
  dim(K, 'K');
  dim(strideA, 'strideA', 2 ** 52);
  dim(strideB, 'strideB', 2 ** 52);
  dim(strideC, 'strideC', 2 ** 52);
  array(A, 'A');
  array(B, 'B');
  array(C, 'C');
  const batch = count === 1 ? '' : ` × ${count} at stride`;
  const ea = extent(count, strideA, M, K);
  const eb = extent(count, strideB, K, N);
  const ec = extent(count, strideC, M, N);
  fits(A, ea, 'A', `${transA ? `${K}×${M}` : `${M}×${K}`}${batch}${count === 1 ? '' : ` ${strideA}`}`);
  fits(B, eb, 'B', `${transB ? `${N}×${K}` : `${K}×${N}`}${batch}${count === 1 ? '' : ` ${strideB}`}`);
  fits(C, ec, 'C', `${M}×${N}${batch}${count === 1 ? '' : ` ${strideC}`}`);
  if (count > 1 && M * N > 0 && strideC < M * N) bad(`strideC ${strideC} < M·N = ${M * N}: the C matrices would overlap`);
  if (overlaps(C, ec, A, ea) || overlaps(C, ec, B, eb)) bad('C must not overlap A or B');
}

export function checkSgemm(transA: boolean, transB: boolean, M: number, N: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array, accumulate: boolean): void {
  checkSgemmBatch(1, transA, transB, M, N, K, A, 0, B, 0, C, 0, accumulate);
}
