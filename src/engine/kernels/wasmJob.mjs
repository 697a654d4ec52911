// The share of one kernel call that one thread runs, for the wasm kernels. Plain JS because it also runs in
// the worker threads (wasmWorker.mjs), which load no TypeScript. The calling thread is worker 0 and
// publishes the job in `ctrl` (a SharedArrayBuffer); see wasm.ts.

/** Int32 slots of the control block. */
export const C = { GEN: 0, PENDING: 1, STOP: 2, BAR_COUNT: 3, BAR_GEN: 4, OP: 5, NW: 6, SPIN_US: 7, P: 16 };
export const OP_MATMUL = 1;
export const OP_FFN = 2;
/** Slots per matrix in a matmul job: dtype, data, rows, cols, scales, out. */
export const MAT_SLOTS = 6;
/** Bytes of per-thread scratch (tail blocks) at TMP_BASE + id · TMP_BYTES. */
export const TMP_BASE = 1024;
export const TMP_BYTES = 512;

/** Contiguous row split: [a, b) of `rows` for worker w of n, boundaries multiples of `align`. */
export function splitRows(rows, w, n, align) {
  const blocks = Math.ceil(rows / align);
  const a = Math.floor((blocks * w) / n) * align;
  const b = Math.floor((blocks * (w + 1)) / n) * align;
  return [Math.min(a, rows), Math.min(b, rows)];
}

const pad32 = (n) => (n + 31) & ~31;

/** Waits until all n workers arrived (spinning: every worker is running this job). */
export function barrier(ctrl, n) {
  if (n === 1) return;
  const g = Atomics.load(ctrl, C.BAR_GEN);
  if (Atomics.add(ctrl, C.BAR_COUNT, 1) === n - 1) {
    Atomics.store(ctrl, C.BAR_COUNT, 0);
    Atomics.add(ctrl, C.BAR_GEN, 1);
    Atomics.notify(ctrl, C.BAR_GEN);
    return;
  }
  for (let i = 0; Atomics.load(ctrl, C.BAR_GEN) === g; i++) {
    if (i > 100000) Atomics.wait(ctrl, C.BAR_GEN, g, 1);
  }
}

/**
 * Runs worker `id`'s share (of n) of the job in ctrl. ex: the wasm exports; u32: a Uint32Array on ctrl's buffer.
 */
export function runJob(ex, ctrl, u32, id, n) {
  const tmp = TMP_BASE + id * TMP_BYTES;
  const P = C.P;
  if (ctrl[C.OP] === OP_MATMUL) {
    const tokens = u32[P];
    const count = u32[P + 1];
    const x = u32[P + 2];
    const xd = u32[P + 3];
    const total = u32[P + 4];
    const [a, b] = splitRows(total, id, n, 32);
    let base = 0;
    for (let i = 0; i < count && base < b; i++) {
      const o = P + 8 + i * MAT_SLOTS;
      const rows = u32[o + 2];
      const lo = Math.max(0, a - base);
      const hi = Math.min(rows, b - base);
      if (lo < hi) ex.rows(u32[o], u32[o + 1], u32[o + 3], u32[o + 4], x, xd, tokens, lo, hi, u32[o + 5], rows, tmp);
      base += rows;
    }
    return;
  }
  // OP_FFN: h = silu(gate·x) * (up·x) over the inner rows, barrier, then out += scale · down·h
  const tokens = u32[P];
  const H = u32[P + 1];
  const I = u32[P + 2];
  const D = u32[P + 3];
  const x = u32[P + 4];
  const xd = u32[P + 5];
  const g = u32[P + 6];
  const u = u32[P + 7];
  const gd = u32[P + 8];
  const y = u32[P + 9];
  const out = u32[P + 10];
  const scale = u32[P + 11];
  const m = P + 12; // gate, up, down: dtype, data, scales
  let [a, b] = splitRows(I, id, n, 32);
  if (a < b) {
    ex.rows(u32[m], u32[m + 1], H, u32[m + 2], x, xd, tokens, a, b, g, I, tmp);
    ex.rows(u32[m + 3], u32[m + 4], H, u32[m + 5], x, xd, tokens, a, b, u, I, tmp);
    for (let t = 0; t < tokens; t++) {
      const o = (t * I + a) * 4;
      ex.swiglu(g + o, g + o, u + o, b - a, tmp);
      if (gd !== 0) ex.deinterleave(gd + (t * pad32(I) + a) * 4, g + o, b - a);
    }
  }
  barrier(ctrl, n);
  [a, b] = splitRows(D, id, n, 32);
  if (a < b) {
    ex.rows(u32[m + 6], u32[m + 7], I, u32[m + 8], g, gd, tokens, a, b, y, D, tmp);
    ex.accumulate(out, y, scale, tokens, D, a, b);
  }
}
