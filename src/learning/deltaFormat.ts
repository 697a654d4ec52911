/**
 * The delta codec's binary format (docs/proof-of-learning.md, "Delta format"). A delta is new − base for
 * every tensor of one component (an expert's `gate`, `up`, `down`), quantised to int8 with one f32 scale
 * per row, each tensor dense or sparse. Little-endian throughout:
 *
 *   0      4   magic "BLDT"
 *   4      1   version = 1
 *   5      1   reserved = 0
 *   6      2   tensor count u16 (1 … MAX_DELTA_TENSORS)
 *   then per tensor:
 *          1   name length n (1 … MAX_DELTA_NAME)
 *          n   name, [a-z0-9_]
 *          1   encoding: 0 dense, 1 sparse
 *          4   rows u32 (≥ 1)                                       shape [rows, cols]
 *          4   cols u32 (≥ 1)
 *          4·rows          scales f32, finite, sign bit clear        [rows]
 *     dense:  rows·cols    int8 values, row-major, in −127 … 127     [rows, cols]
 *     sparse: 4·rows       nnz per row u32 (≤ cols)                  [rows]
 *             W·nnz        column indices, strictly ascending within a row; W = 2 if cols ≤ 65536, else 4
 *             nnz          int8 values, nonzero, in −127 … 127
 *
 * The value of an entry is round32(q · scale). No trailing bytes.
 */
import { BlyanError } from '../errors.ts';

export const DELTA_MAGIC = Uint8Array.of(0x42, 0x4c, 0x44, 0x54); // "BLDT"
export const DELTA_VERSION = 1;
export const DELTA_PREAMBLE_BYTES = 8;
export const MAX_DELTA_TENSORS = 16;
export const MAX_DELTA_NAME = 32;
export const DELTA_NAME = /^[a-z0-9_]{1,32}$/;
export const ENCODING_DENSE = 0;
export const ENCODING_SPARSE = 1;

/** Column index width of a sparse tensor (bytes): 2 when every column fits in a u16. */
export function indexWidth(cols: number): 2 | 4 {
  return cols <= 65536 ? 2 : 4;
}

interface DeltaTensorBase {
  readonly name: string;
  readonly rows: number;
  readonly cols: number;
  /** One f32 scale per row, finite and ≥ 0. */
  readonly scales: Float32Array;
}

export interface DenseDeltaTensor extends DeltaTensorBase {
  readonly kind: 'dense';
  /** rows × cols quantised values, row-major. */
  readonly q: Int8Array;
}

export interface SparseDeltaTensor extends DeltaTensorBase {
  readonly kind: 'sparse';
  /** Kept entries per row. */
  readonly counts: Uint32Array;
  /** Column of each kept entry, rows in order, ascending within a row. */
  readonly indices: Uint32Array;
  /** Quantised value of each kept entry (never 0). */
  readonly q: Int8Array;
}

export type DeltaTensor = DenseDeltaTensor | SparseDeltaTensor;

export interface Delta {
  readonly tensors: readonly DeltaTensor[];
}

/** A dense f32 matrix: an expert tensor to diff or to apply a delta to. */
export interface F32Matrix {
  readonly name: string;
  readonly rows: number;
  readonly cols: number;
  /** rows × cols values, row-major */
  readonly values: Float32Array;
}

export function deltaMalformed(message: string, data: Record<string, unknown> = {}): never {
  throw new BlyanError('DELTA_MALFORMED', message, data);
}

export function deltaNotFinite(message: string, data: Record<string, unknown> = {}): never {
  throw new BlyanError('DELTA_NOT_FINITE', message, data);
}
