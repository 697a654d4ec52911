import { BlyanError, type BlyanErrorCode } from '../errors.ts';
import { type DType, dtypeBytes } from './dtypes.ts';

/**
 * TensorBlock v1 constants and the canonical layout shared by the encoder and the decoder
 * (docs/tensorblock.md). The layout is a function of the header entries' dtypes and shapes alone, so for
 * a given list of tensors there is exactly one valid payload: equal tensors give equal payload hashes.
 *
 *   0   "BLYT"                 magic, 4 bytes
 *   4   u16 LE version = 1
 *   6   u16 LE flags   = 0
 *   8   u32 LE header length H
 *   12  H bytes of canonical DAG-CBOR {tensors: [...]}
 *       zero padding up to the next multiple of 64 (the data area)
 *       per tensor, in header order: data at a multiple of 64; for int8 its scales at the next multiple
 *       of 64 after the data; zero padding between regions; the payload ends where the last region ends
 */
export const MAGIC = Uint8Array.of(0x42, 0x4c, 0x59, 0x54); // "BLYT"
export const VERSION = 1;
export const PREAMBLE_BYTES = 12;
export const ALIGN = 64;
/** Bounds that keep a hostile payload's decode cost small and predictable (docs/tensorblock.md, Limits). */
export const MAX_TENSORS = 4096;
export const MAX_HEADER_BYTES = 1024 * 1024;
export const MAX_NAME_LENGTH = 256;
export const MAX_RANK = 8;
/** Keys of a header entry: name, dtype, shape, offset, length, scalesOffset, scalesLength. */
export const MAX_ENTRY_FIELDS = 7;

/** One entry of the CBOR header, as decoded and as encoded (optional keys are absent, never null). */
export interface HeaderEntry {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
  length: number;
  scalesOffset?: number;
  scalesLength?: number;
}

export const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/** A TensorBlock error naming the tensor (when known) and the check that failed; tests branch on `check`. */
export function fail(code: BlyanErrorCode, check: string, message: string, tensor?: string): never {
  const where = tensor === undefined ? 'TensorBlock' : `TensorBlock tensor "${tensor}"`;
  throw new BlyanError(code, `${where}: ${message}`, tensor === undefined ? { check } : { check, tensor });
}

// Control characters would make names ambiguous in logs and file names.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

export function checkName(name: unknown, index: number): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH || CONTROL.test(name) || !name.isWellFormed()) {
    fail('TENSOR_MALFORMED', 'name', `tensor #${index} needs a name of 1..${MAX_NAME_LENGTH} characters without control characters`);
  }
  return name;
}

/**
 * Checks rank and dims and returns the byte length the shape needs. `limit` bounds the running product, so
 * a shape like [2^40, 2^40] fails here instead of overflowing (and costs O(rank)).
 */
export function shapeBytes(shape: unknown, dtype: DType, name: string, limit: number): { shape: number[]; bytes: number } {
  if (!Array.isArray(shape) || shape.length === 0 || shape.length > MAX_RANK) {
    fail('TENSOR_BAD_SHAPE', 'shape', `shape must be a list of 1..${MAX_RANK} dimensions`, name);
  }
  let n = dtypeBytes(dtype);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d <= 0) {
      fail('TENSOR_BAD_SHAPE', 'shape', `shape dimensions must be positive integers, got [${shape.map((x) => (typeof x === 'number' ? x : typeof x)).join(', ')}]`, name);
    }
    n *= d;
    if (n > limit) fail('TENSOR_BAD_SHAPE', 'size', `shape [${shape.join(', ')}] ${dtype} needs more than ${limit} bytes`, name);
  }
  return { shape: shape as number[], bytes: n };
}

/** rows = numel / last dim: the number of int8 scales. */
export function rowsOf(shape: readonly number[]): number {
  let rows = 1;
  for (let i = 0; i < shape.length - 1; i++) rows *= shape[i] as number;
  return rows;
}

/** Canonical offsets for tensors laid out from `dataStart` (a multiple of 64); returns the entries and the payload end. */
export function layout(specs: readonly { name: string; dtype: DType; shape: number[]; bytes: number }[], dataStart: number): { entries: HeaderEntry[]; end: number } {
  const entries: HeaderEntry[] = [];
  let cursor = dataStart;
  for (const s of specs) {
    const offset = align(cursor);
    const e: HeaderEntry = { name: s.name, dtype: s.dtype, shape: s.shape, offset, length: s.bytes };
    cursor = offset + s.bytes;
    if (s.dtype === 'int8') {
      e.scalesOffset = align(cursor);
      e.scalesLength = rowsOf(s.shape) * 4;
      cursor = e.scalesOffset + e.scalesLength;
    }
    entries.push(e);
  }
  return { entries, end: cursor };
}

/** The header object exactly as it is CBOR-encoded (no undefined values: DAG-CBOR refuses them). */
export function headerObject(entries: readonly HeaderEntry[]): { tensors: Record<string, unknown>[] } {
  return {
    tensors: entries.map((e) => {
      const o: Record<string, unknown> = { name: e.name, dtype: e.dtype, shape: e.shape, offset: e.offset, length: e.length };
      if (e.scalesOffset !== undefined) o.scalesOffset = e.scalesOffset;
      if (e.scalesLength !== undefined) o.scalesLength = e.scalesLength;
      return o;
    }),
  };
}
