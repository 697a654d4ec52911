import * as dagCbor from '@ipld/dag-cbor';
import { type DType, parseDType } from './dtypes.ts';
import {
  checkName,
  fail,
  headerObject,
  layout,
  MAGIC,
  MAX_HEADER_BYTES,
  MAX_TENSORS,
  PREAMBLE_BYTES,
  rowsOf,
  shapeBytes,
  VERSION,
  align,
} from './tensorBlockFormat.ts';

export interface TensorInput {
  name: string;
  dtype: DType;
  shape: readonly number[];
  /** numel × dtype bytes, little-endian */
  data: Uint8Array;
  /** int8 only, required there: one finite, non-negative f32 scale per row */
  scales?: Float32Array;
}

/**
 * Packs tensors into one TensorBlock payload (docs/tensorblock.md). Deterministic: the same tensors in the
 * same order give the same bytes, and the decoder accepts only that byte string. Inputs are checked with
 * the decoder's rules, so anything encoded decodes.
 */
export function encodeTensorBlock(tensors: readonly TensorInput[]): Uint8Array {
  if (tensors.length === 0 || tensors.length > MAX_TENSORS) {
    fail('TENSOR_MALFORMED', 'count', `a block holds 1..${MAX_TENSORS} tensors, got ${tensors.length}`);
  }
  const names = new Set<string>();
  const specs = tensors.map((t, i) => {
    const name = checkName(t.name, i);
    if (names.has(name)) fail('TENSOR_MALFORMED', 'duplicate', 'appears twice', name);
    names.add(name);
    const dtype = parseDType(t.dtype);
    const { shape, bytes } = shapeBytes([...t.shape], dtype, name, Number.MAX_SAFE_INTEGER);
    if (t.data.byteLength !== bytes) {
      fail('TENSOR_BAD_SHAPE', 'length', `data has ${t.data.byteLength} bytes, shape [${shape.join(', ')}] ${dtype} needs ${bytes}`, name);
    }
    if (dtype === 'int8') {
      const rows = rowsOf(shape);
      if (t.scales === undefined || t.scales.length !== rows) {
        fail('TENSOR_MALFORMED', 'scales', `int8 needs ${rows} scales (one per row), got ${t.scales?.length ?? 0}`, name);
      }
      for (let r = 0; r < rows; r++) {
        const s = t.scales[r] as number;
        if (!Number.isFinite(s) || s < 0) fail('TENSOR_MALFORMED', 'scales', `scale of row ${r} is ${s}; scales must be finite and ≥ 0`, name);
      }
    } else if (t.scales !== undefined) {
      fail('TENSOR_MALFORMED', 'scales', `only int8 tensors carry scales, this one is ${dtype}`, name);
    }
    return { name, dtype, shape, bytes };
  });

  // Offsets live in the header, and the header's size moves the data area: iterate to the fixed point.
  // Offsets only grow with dataStart and CBOR integers never shrink as they grow, so this converges
  // (in practice in one or two rounds).
  let dataStart = align(PREAMBLE_BYTES + dagCbor.encode(headerObject(layout(specs, 0).entries)).byteLength);
  let header: Uint8Array;
  let plan: ReturnType<typeof layout>;
  for (let round = 0; ; round++) {
    plan = layout(specs, dataStart);
    header = dagCbor.encode(headerObject(plan.entries));
    const need = align(PREAMBLE_BYTES + header.byteLength);
    if (need === dataStart) break;
    if (round > 16) throw new Error('TensorBlock layout did not converge'); // unreachable: see above
    dataStart = need;
  }
  if (header.byteLength > MAX_HEADER_BYTES) {
    fail('TENSOR_MALFORMED', 'headerLength', `header is ${header.byteLength} bytes; the limit is ${MAX_HEADER_BYTES}`);
  }

  const out = new Uint8Array(plan.end); // zero-filled: every padding byte is already 0
  out.set(MAGIC, 0);
  const dv = new DataView(out.buffer);
  dv.setUint16(4, VERSION, true);
  dv.setUint16(6, 0, true);
  dv.setUint32(8, header.byteLength, true);
  out.set(header, PREAMBLE_BYTES);
  plan.entries.forEach((e, i) => {
    const t = tensors[i] as TensorInput;
    out.set(t.data, e.offset);
    if (e.scalesOffset !== undefined && t.scales !== undefined) {
      // Float32Array memory is little-endian on every host we run on (tensor.ts refuses others).
      out.set(new Uint8Array(t.scales.buffer, t.scales.byteOffset, t.scales.byteLength), e.scalesOffset);
    }
  });
  return out;
}
