import * as dagCbor from '@ipld/dag-cbor';
import { cborBoundsProblem } from '../cborBounds.ts';
import { equalBytes } from '../chain/hash.ts';
import { BlyanError } from '../errors.ts';
import { DTYPES, isDType } from './dtypes.ts';
import type { TensorView } from './tensor.ts';
import {
  ALIGN,
  align,
  checkName,
  fail,
  type HeaderEntry,
  headerObject,
  MAGIC,
  MAX_ENTRY_FIELDS,
  MAX_HEADER_BYTES,
  MAX_TENSORS,
  PREAMBLE_BYTES,
  rowsOf,
  shapeBytes,
  VERSION,
} from './tensorBlockFormat.ts';

export interface TensorBlock {
  /** in header order; every `data` (and int8 `scales`, see decodeTensorBlock) is a view into the payload */
  readonly tensors: readonly TensorView[];
  /** the tensor called `name`, or a TENSOR_NOT_FOUND error */
  get(name: string): TensorView;
  has(name: string): boolean;
}

const ENTRY_KEYS = new Set(['name', 'dtype', 'shape', 'offset', 'length', 'scalesOffset', 'scalesLength']);

function uint(obj: Record<string, unknown>, key: string, name: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail('TENSOR_MALFORMED', 'field', `"${key}" must be a non-negative integer`, name);
  return v;
}

/** Field types of one header entry (rules in docs/tensorblock.md, "Header"); offsets are checked later. */
function parseEntry(value: unknown, index: number, payloadBytes: number): HeaderEntry & { bytes: number } {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    fail('TENSOR_MALFORMED', 'field', `header entry #${index} must be a map`);
  }
  const obj = value as Record<string, unknown>;
  const name = checkName(Object.hasOwn(obj, 'name') ? obj.name : undefined, index);
  for (const k of Object.keys(obj)) if (!ENTRY_KEYS.has(k)) fail('TENSOR_MALFORMED', 'field', `unknown header field "${k.slice(0, 40)}"`, name);
  for (const k of ['dtype', 'shape', 'offset', 'length']) if (!Object.hasOwn(obj, k)) fail('TENSOR_MALFORMED', 'field', `header field "${k}" is missing`, name);
  const dtype = obj.dtype;
  if (!isDType(dtype)) {
    const got = typeof dtype === 'string' ? `"${dtype.slice(0, 40)}"` : `a ${typeof dtype}`;
    fail('TENSOR_BAD_DTYPE', 'dtype', `unknown dtype ${got}; supported: ${DTYPES.join(', ')}`, name);
  }
  // The product is bounded by the payload size: a larger tensor cannot fit, and the bound prevents overflow.
  const { shape, bytes } = shapeBytes(obj.shape, dtype, name, payloadBytes);
  const entry: HeaderEntry & { bytes: number } = { name, dtype, shape, offset: uint(obj, 'offset', name), length: uint(obj, 'length', name), bytes };
  const hasScales = Object.hasOwn(obj, 'scalesOffset') || Object.hasOwn(obj, 'scalesLength');
  if (dtype === 'int8') {
    if (!Object.hasOwn(obj, 'scalesOffset') || !Object.hasOwn(obj, 'scalesLength')) {
      fail('TENSOR_MALFORMED', 'scales', 'int8 tensors need "scalesOffset" and "scalesLength"', name);
    }
    entry.scalesOffset = uint(obj, 'scalesOffset', name);
    entry.scalesLength = uint(obj, 'scalesLength', name);
  } else if (hasScales) {
    fail('TENSOR_MALFORMED', 'scales', `only int8 tensors carry scales, this one is ${dtype}`, name);
  }
  return entry;
}

/**
 * Decodes a TensorBlock payload without copying tensor data: each `data` is `payload.subarray(...)`, so its
 * `.buffer` is the payload's buffer. int8 `scales` are a Float32Array view too when the scales' absolute
 * byte offset is a multiple of 4 (always, if `payload.byteOffset` is); otherwise they are copied (rows × 4
 * bytes), since a Float32Array cannot start at an unaligned address.
 *
 * Everything is validated before anything is returned (docs/tensorblock.md, "Validation"); every failure is
 * a BlyanError (TENSOR_MALFORMED, TENSOR_BAD_DTYPE or TENSOR_BAD_SHAPE) whose data names the failed
 * `check` and, when known, the `tensor`. Cost is linear in the payload size: one pass over the header,
 * one over the padding bytes and the scales; tensor data bytes are not read.
 */
export function decodeTensorBlock(payload: Uint8Array): TensorBlock {
  const size = payload.byteLength;
  if (size < PREAMBLE_BYTES) fail('TENSOR_MALFORMED', 'truncated', `payload is ${size} bytes, shorter than the ${PREAMBLE_BYTES}-byte preamble`);
  for (let i = 0; i < 4; i++) if (payload[i] !== MAGIC[i]) fail('TENSOR_MALFORMED', 'magic', 'payload does not start with "BLYT"');
  const dv = new DataView(payload.buffer, payload.byteOffset, PREAMBLE_BYTES);
  const version = dv.getUint16(4, true);
  if (version !== VERSION) fail('TENSOR_MALFORMED', 'version', `unsupported version ${version}; this node reads version ${VERSION}`);
  const flags = dv.getUint16(6, true);
  if (flags !== 0) fail('TENSOR_MALFORMED', 'flags', `flags must be 0 in version 1, got 0x${flags.toString(16)}`);
  const headerLength = dv.getUint32(8, true);
  if (headerLength > MAX_HEADER_BYTES) fail('TENSOR_MALFORMED', 'headerLength', `header length ${headerLength} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  const headerEnd = PREAMBLE_BYTES + headerLength;
  if (headerEnd > size) fail('TENSOR_MALFORMED', 'headerLength', `header length ${headerLength} runs past the end of the ${size}-byte payload`);

  const headerBytes = payload.subarray(PREAMBLE_BYTES, headerEnd);
  // No list in a header is longer than the tensor list (at most MAX_TENSORS) and no map has more than
  // MAX_ENTRY_FIELDS keys, so a longer one is refused at its head, before the decoder builds it.
  const bounds = cborBoundsProblem(headerBytes, { maxArrayItems: MAX_TENSORS, maxMapEntries: MAX_ENTRY_FIELDS });
  if (bounds?.kind === 'limit') fail('TENSOR_MALFORMED', 'count', `header too large: ${bounds.message}`);
  if (bounds !== undefined) fail('TENSOR_MALFORMED', 'cbor', `header is not valid DAG-CBOR: ${bounds.message}`);
  let value: unknown;
  try {
    value = dagCbor.decode(headerBytes);
  } catch (err) {
    fail('TENSOR_MALFORMED', 'cbor', `header is not valid DAG-CBOR: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    fail('TENSOR_MALFORMED', 'field', 'header must be a map {tensors: [...]}');
  }
  const keys = Object.keys(value);
  const list = Object.hasOwn(value, 'tensors') ? (value as Record<string, unknown>).tensors : undefined;
  if (keys.length !== 1 || keys[0] !== 'tensors' || !Array.isArray(list)) fail('TENSOR_MALFORMED', 'field', 'header must be exactly {tensors: [...]}');
  if (list.length === 0 || list.length > MAX_TENSORS) fail('TENSOR_MALFORMED', 'count', `a block holds 1..${MAX_TENSORS} tensors, this header lists ${list.length}`);
  const entries = list.map((v, i) => parseEntry(v, i, size));

  // Canonical form: the header must be exactly the DAG-CBOR encoding of the fields just parsed. Encoding
  // the parsed fields (not the decoded value) keeps this step bounded in depth and linear, and rejects
  // anything the parse did not see: a "__proto__" key, say, which the CBOR decoder turns into a prototype.
  if (!equalBytes(dagCbor.encode(headerObject(entries)), headerBytes)) {
    fail('TENSOR_MALFORMED', 'canonical', 'header is not the canonical DAG-CBOR encoding of its fields');
  }

  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.name)) fail('TENSOR_MALFORMED', 'duplicate', 'appears twice in the header', e.name);
    seen.add(e.name);
  }

  // Regions must follow the canonical layout exactly: each at the first multiple of 64 after the previous
  // one, all padding zero, nothing after the last. The specific checks come first for clearer messages.
  let cursor = headerEnd;
  let previous = 'the header';
  const region = (offset: number, length: number, what: string, name: string): void => {
    if (offset % ALIGN !== 0) fail('TENSOR_MALFORMED', 'alignment', `${what} offset ${offset} is not a multiple of ${ALIGN}`, name);
    if (offset < cursor) fail('TENSOR_MALFORMED', 'overlap', `${what} at ${offset} overlaps ${previous} (which ends at ${cursor})`, name);
    if (offset !== align(cursor)) fail('TENSOR_MALFORMED', 'gap', `${what} at ${offset} leaves a gap after ${previous}; it must start at ${align(cursor)}`, name);
    if (offset + length > size) fail('TENSOR_MALFORMED', 'bounds', `${what} [${offset}, ${offset + length}) runs past the end of the ${size}-byte payload`, name);
    for (let i = cursor; i < offset; i++) {
      if (payload[i] !== 0) fail('TENSOR_MALFORMED', 'padding', `padding byte at ${i}, before its ${what}, is not zero`, name);
    }
    cursor = offset + length;
    previous = `the ${what} of "${name}"`;
  };
  for (const e of entries) {
    if (e.length !== e.bytes) {
      fail('TENSOR_BAD_SHAPE', 'length', `length ${e.length} does not match shape [${e.shape.join(', ')}] ${e.dtype} (${e.bytes} bytes)`, e.name);
    }
    region(e.offset, e.length, 'data', e.name);
    if (e.scalesOffset !== undefined && e.scalesLength !== undefined) {
      const rows = rowsOf(e.shape);
      if (e.scalesLength !== rows * 4) fail('TENSOR_MALFORMED', 'scales', `scalesLength ${e.scalesLength} must be ${rows} rows × 4 bytes`, e.name);
      region(e.scalesOffset, e.scalesLength, 'scales', e.name);
    }
  }
  if (cursor !== size) fail('TENSOR_MALFORMED', 'trailing', `${size - cursor} bytes follow the last region; the payload must end at ${cursor}`);

  const tensors: TensorView[] = entries.map((e) => {
    const t: TensorView = { name: e.name, dtype: e.dtype, shape: Object.freeze(e.shape), data: payload.subarray(e.offset, e.offset + e.length) };
    if (e.scalesOffset !== undefined && e.scalesLength !== undefined) {
      const abs = payload.byteOffset + e.scalesOffset;
      const n = e.scalesLength / 4;
      const scales = abs % 4 === 0 ? new Float32Array(payload.buffer, abs, n) : new Float32Array(payload.slice(e.scalesOffset, e.scalesOffset + e.scalesLength).buffer);
      for (let r = 0; r < n; r++) {
        const s = scales[r] as number;
        if (!Number.isFinite(s) || s < 0) fail('TENSOR_MALFORMED', 'scales', `scale of row ${r} is ${s}; scales must be finite and ≥ 0`, e.name);
      }
      t.scales = scales;
    }
    return t;
  });
  const byName = new Map(tensors.map((t) => [t.name, t]));
  return {
    tensors,
    get(name: string): TensorView {
      const t = byName.get(name);
      if (t === undefined) {
        throw new BlyanError('TENSOR_NOT_FOUND', `TensorBlock has no tensor "${name}" (it holds ${tensors.length}: ${tensors.slice(0, 8).map((x) => x.name).join(', ')}${tensors.length > 8 ? ', …' : ''})`, { tensor: name });
      }
      return t;
    },
    has: (name: string) => byName.has(name),
  };
}
