import { type Delta, type DeltaTensor, deltaMalformed, deltaNotFinite, type F32Matrix } from './deltaFormat.ts';

/** The value an entry stands for: round32(q · scale). */
function dq(q: number, scale: number): number {
  return Math.fround(q * scale);
}

/** Calls fn(index, value) for every stored entry, row by row, columns ascending. */
function forEachEntry(t: DeltaTensor, fn: (i: number, v: number) => void): void {
  if (t.kind === 'dense') {
    for (let r = 0; r < t.rows; r++) {
      const s = t.scales[r] as number;
      for (let c = 0, i = r * t.cols; c < t.cols; c++, i++) fn(i, dq(t.q[i] as number, s));
    }
    return;
  }
  let j = 0;
  for (let r = 0; r < t.rows; r++) {
    const s = t.scales[r] as number;
    for (let e = 0; e < (t.counts[r] as number); e++, j++) fn(r * t.cols + (t.indices[j] as number), dq(t.q[j] as number, s));
  }
}

/**
 * base ⊕ delta: for every tensor of the delta (in its order) and every element (row-major),
 * new = round32(base + round32(q · scale)); untouched elements of a sparse delta keep the base value.
 * Each element is one f32 addition, so the result is the same on every machine. The delta must name
 * exactly the base's tensors with the same shapes (DELTA_MALFORMED); a result that overflows to ±∞ is
 * DELTA_NOT_FINITE. Returns new matrices in the delta's order; the base is not modified.
 */
export function applyDelta(base: readonly F32Matrix[], delta: Delta): F32Matrix[] {
  if (base.length !== delta.tensors.length) deltaMalformed(`the delta has ${delta.tensors.length} tensors; the component has ${base.length}`);
  const byName = new Map(base.map((t) => [t.name, t]));
  return delta.tensors.map((t) => {
    const b = byName.get(t.name);
    if (b === undefined) deltaMalformed(`the component has no tensor ${t.name}`, { tensor: t.name });
    if (b.rows !== t.rows || b.cols !== t.cols) {
      deltaMalformed(`${t.name}: the delta is ${t.rows}×${t.cols}, the component ${b.rows}×${b.cols}`, { tensor: t.name });
    }
    const values = b.values.slice();
    forEachEntry(t, (i, v) => {
      const x = Math.fround((values[i] as number) + v);
      if (!Number.isFinite(x)) deltaNotFinite(`${t.name}: element ${i} becomes ${x}`, { tensor: t.name, index: i });
      values[i] = x;
    });
    return { name: t.name, rows: t.rows, cols: t.cols, values };
  });
}

/**
 * L2 norm of the delta's values: sqrt(Σ round32(q·scale)²), summed in f64 over tensors in order, rows
 * ascending, columns ascending (one fixed order, so every node gets the same double).
 */
export function deltaNorm(delta: Delta): number {
  let acc = 0;
  for (const t of delta.tensors) forEachEntry(t, (_i, v) => {
    acc += v * v;
  });
  return Math.sqrt(acc);
}

/** The delta's values as dense f32 matrices (for tests and tools). */
export function dequantizeDelta(delta: Delta): F32Matrix[] {
  return delta.tensors.map((t) => {
    const values = new Float32Array(t.rows * t.cols);
    forEachEntry(t, (i, v) => {
      values[i] = v;
    });
    return { name: t.name, rows: t.rows, cols: t.cols, values };
  });
}
