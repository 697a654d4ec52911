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
  MAX_DELTA_TENSORS,
} from './deltaFormat.ts';

function tensorBytes(t: DeltaTensor): number {
  const head = 1 + t.name.length + 1 + 8 + 4 * t.rows;
  if (t.kind === 'dense') return head + t.rows * t.cols;
  return head + 4 * t.rows + (indexWidth(t.cols) + 1) * t.q.length;
}

/**
 * Serialises a delta (format in deltaFormat.ts). Checks everything the decoder checks, so whatever
 * encodes also decodes, to the same value.
 */
export function encodeDelta(delta: Delta): Uint8Array {
  const n = delta.tensors.length;
  if (n < 1 || n > MAX_DELTA_TENSORS) deltaMalformed(`a delta holds 1 … ${MAX_DELTA_TENSORS} tensors, got ${n}`);
  let size = DELTA_PREAMBLE_BYTES;
  for (const t of delta.tensors) size += tensorBytes(t);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out.set(DELTA_MAGIC, 0);
  out[4] = DELTA_VERSION;
  dv.setUint16(6, n, true);
  let o = DELTA_PREAMBLE_BYTES;
  const names = new Set<string>();
  for (const t of delta.tensors) {
    if (!DELTA_NAME.test(t.name) || names.has(t.name)) deltaMalformed(`bad or repeated tensor name "${t.name}"`);
    names.add(t.name);
    const { rows, cols } = t;
    if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 1 || cols < 1 || rows > 0xffffffff || cols > 0xffffffff) {
      deltaMalformed(`${t.name}: bad shape ${rows}×${cols}`);
    }
    out[o++] = t.name.length;
    for (let i = 0; i < t.name.length; i++) out[o++] = t.name.charCodeAt(i);
    out[o++] = t.kind === 'dense' ? ENCODING_DENSE : ENCODING_SPARSE;
    dv.setUint32(o, rows, true);
    dv.setUint32(o + 4, cols, true);
    o += 8;
    if (t.scales.length !== rows) deltaMalformed(`${t.name}: ${t.scales.length} scales for ${rows} rows`);
    for (let r = 0; r < rows; r++) {
      const s = t.scales[r] as number;
      if (!Number.isFinite(s)) deltaNotFinite(`${t.name}: scale of row ${r} is ${s}`);
      if (s < 0 || Object.is(s, -0)) deltaMalformed(`${t.name}: scale of row ${r} is negative`);
      dv.setFloat32(o, s, true);
      o += 4;
    }
    if (t.kind === 'dense') {
      if (t.q.length !== rows * cols) deltaMalformed(`${t.name}: ${t.q.length} values for ${rows}×${cols}`);
      for (let i = 0; i < t.q.length; i++) checkQ(t.name, t.q[i] as number, false, (t.scales[Math.floor(i / cols)] as number) === 0);
      out.set(new Uint8Array(t.q.buffer, t.q.byteOffset, t.q.length), o);
      o += t.q.length;
      continue;
    }
    if (t.counts.length !== rows || t.indices.length !== t.q.length) deltaMalformed(`${t.name}: sparse arrays disagree`);
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const c = t.counts[r] as number;
      if (c > cols) deltaMalformed(`${t.name}: row ${r} keeps ${c} of ${cols} columns`);
      dv.setUint32(o, c, true);
      o += 4;
      total += c;
    }
    if (total !== t.q.length) deltaMalformed(`${t.name}: counts add to ${total}, ${t.q.length} values given`);
    const w = indexWidth(cols);
    let j = 0;
    for (let r = 0; r < rows; r++) {
      let prev = -1;
      for (let e = 0; e < (t.counts[r] as number); e++, j++) {
        const c = t.indices[j] as number;
        if (c <= prev || c >= cols) deltaMalformed(`${t.name}: row ${r} column indices must ascend within 0 … ${cols - 1}`);
        prev = c;
        if (w === 2) dv.setUint16(o, c, true);
        else dv.setUint32(o, c, true);
        o += w;
      }
    }
    for (let i = 0; i < t.q.length; i++) checkQ(t.name, t.q[i] as number, true, false);
    out.set(new Uint8Array(t.q.buffer, t.q.byteOffset, t.q.length), o);
    o += t.q.length;
  }
  return out;
}

/** Shared with the decoder: int8 values are symmetric; sparse entries are nonzero; a zero scale has zero values. */
export function checkQ(name: string, q: number, sparse: boolean, zeroScale: boolean): void {
  if (q === -128) deltaMalformed(`${name}: int8 value −128 is outside the symmetric range −127 … 127`);
  if (sparse && q === 0) deltaMalformed(`${name}: a sparse entry is 0 (zeros are never stored)`);
  if (zeroScale && q !== 0) deltaMalformed(`${name}: a row with scale 0 has a nonzero value`);
}
