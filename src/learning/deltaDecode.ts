import {
  DELTA_MAGIC,
  DELTA_NAME,
  DELTA_PREAMBLE_BYTES,
  DELTA_VERSION,
  type Delta,
  type DeltaTensor,
  deltaMalformed,
  deltaNotFinite,
  ENCODING_DENSE,
  ENCODING_SPARSE,
  indexWidth,
  MAX_DELTA_NAME,
  MAX_DELTA_TENSORS,
} from './deltaFormat.ts';
import { checkQ } from './deltaEncode.ts';

/**
 * Strict decoder of the delta format (deltaFormat.ts). Every size is checked against the bytes left before
 * anything is allocated, so the cost is linear in the input. Errors: DELTA_MALFORMED (truncation, trailing
 * bytes, bad magic/version/counts/names/indices/values), DELTA_NOT_FINITE (a NaN or ±∞ scale).
 */
export function decodeDelta(bytes: Uint8Array): Delta {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const need = (n: number, what: string): void => {
    if (n > bytes.byteLength - o) deltaMalformed(`delta truncated: ${what} needs ${n} bytes at offset ${o}, ${bytes.byteLength - o} left`, { offset: o });
  };
  need(DELTA_PREAMBLE_BYTES, 'the preamble');
  for (let i = 0; i < 4; i++) if (bytes[i] !== DELTA_MAGIC[i]) deltaMalformed('not a delta: bad magic');
  if (bytes[4] !== DELTA_VERSION) deltaMalformed(`unsupported delta version ${bytes[4]}`, { version: bytes[4] });
  if (bytes[5] !== 0) deltaMalformed('reserved byte is not 0');
  const n = dv.getUint16(6, true);
  if (n < 1 || n > MAX_DELTA_TENSORS) deltaMalformed(`a delta holds 1 … ${MAX_DELTA_TENSORS} tensors, header says ${n}`);
  o = DELTA_PREAMBLE_BYTES;
  const tensors: DeltaTensor[] = [];
  const names = new Set<string>();
  for (let t = 0; t < n; t++) {
    need(1, 'a name length');
    const len = bytes[o++] as number;
    if (len < 1 || len > MAX_DELTA_NAME) deltaMalformed(`tensor ${t}: name length ${len}`);
    need(len, 'a name');
    let name = '';
    for (let i = 0; i < len; i++) name += String.fromCharCode(bytes[o + i] as number);
    o += len;
    if (!DELTA_NAME.test(name) || names.has(name)) deltaMalformed(`tensor ${t}: bad or repeated name "${name}"`);
    names.add(name);
    need(9, 'encoding and shape');
    const enc = bytes[o] as number;
    const rows = dv.getUint32(o + 1, true);
    const cols = dv.getUint32(o + 5, true);
    o += 9;
    if (enc !== ENCODING_DENSE && enc !== ENCODING_SPARSE) deltaMalformed(`${name}: unknown encoding ${enc}`);
    if (rows < 1 || cols < 1) deltaMalformed(`${name}: empty shape ${rows}×${cols}`);
    need(4 * rows, 'the scales');
    const scales = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const s = dv.getFloat32(o, true);
      if (!Number.isFinite(s)) deltaNotFinite(`${name}: scale of row ${r} is ${s}`, { tensor: name, row: r });
      if ((bytes[o + 3] as number) & 0x80) deltaMalformed(`${name}: scale of row ${r} is negative`);
      scales[r] = s;
      o += 4;
    }
    if (enc === ENCODING_DENSE) {
      need(rows * cols, 'the dense values');
      const q = new Int8Array(bytes.slice(o, o + rows * cols).buffer);
      for (let i = 0; i < q.length; i++) checkQ(name, q[i] as number, false, (scales[Math.floor(i / cols)] as number) === 0);
      o += rows * cols;
      tensors.push({ kind: 'dense', name, rows, cols, scales, q });
      continue;
    }
    need(4 * rows, 'the row counts');
    const counts = new Uint32Array(rows);
    let nnz = 0;
    for (let r = 0; r < rows; r++) {
      const c = dv.getUint32(o, true);
      if (c > cols) deltaMalformed(`${name}: row ${r} keeps ${c} of ${cols} columns`);
      counts[r] = c;
      nnz += c;
      o += 4;
    }
    const w = indexWidth(cols);
    need((w + 1) * nnz, 'the sparse entries');
    const indices = new Uint32Array(nnz);
    let j = 0;
    for (let r = 0; r < rows; r++) {
      let prev = -1;
      for (let e = 0; e < (counts[r] as number); e++, j++) {
        const c = w === 2 ? dv.getUint16(o, true) : dv.getUint32(o, true);
        o += w;
        if (c <= prev || c >= cols) deltaMalformed(`${name}: row ${r} column indices must ascend within 0 … ${cols - 1}`);
        prev = c;
        indices[j] = c;
      }
    }
    const q = new Int8Array(bytes.slice(o, o + nnz).buffer);
    for (let i = 0; i < nnz; i++) checkQ(name, q[i] as number, true, false);
    o += nnz;
    tensors.push({ kind: 'sparse', name, rows, cols, scales, counts, indices, q });
  }
  if (o !== bytes.byteLength) deltaMalformed(`${bytes.byteLength - o} trailing bytes after the last tensor`);
  return { tensors };
}
