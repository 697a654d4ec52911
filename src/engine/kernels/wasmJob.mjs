// The share of one kernel call that one thread runs, for the wasm kernels. Plain JS because it also runs in
// the worker threads (wasmWorker.mjs), which load no TypeScript. The calling thread is worker 0 and
// publishes the job in `ctrl` (a SharedArrayBuffer); see wasm.ts. Rows are taken in blocks from shared
// counters, so the calling thread alone can finish any job (workers that never got a core are withdrawn).

/**
 * Int32 slots of the control block. OFFER + i: worker i's claim on job g (g·4 offered, g·4+1 started,
 * g·4+2 withdrawn by the caller, who then finished the rows itself); see native/kernels/pool.c.
 */
export const C = { GEN: 0, PENDING: 1, STOP: 2, H_DONE: 3, ERROR: 4, OP: 5, NW: 6, SPIN_US: 7, NEXT1: 8, NEXT2: 9, P: 16, OFFER: 256 };
/** Int32 slots of the control block for up to this many threads. */
export const MAX_THREADS = 256;
export const CTRL_INTS = 256 + MAX_THREADS;
export const OP_MATMUL = 1;
export const OP_FFN = 2;
/** Slots per matrix in a matmul job: dtype, data, rows, cols, scales, out. */
export const MAT_SLOTS = 6;
/** Bytes of per-thread scratch (tail blocks) at TMP_BASE + id · TMP_BYTES. */
export const TMP_BASE = 1024;
export const TMP_BYTES = 512;

/** Rows per block when `total` rows are shared by n threads: multiples of 32, about 8 blocks per thread. */
export function blockRows(total, n) {
  const b = n <= 1 ? total : Math.ceil(total / (n * 8));
  return Math.max(32, Math.ceil(b / 32) * 32);
}

/**
 * The next block [a, b) of `total` rows from the counter in ctrl[slot], or null when none is left. Blocks
 * go to whichever thread asks first, so one slow thread does not hold up the others; which thread
 * computes a row never changes its result.
 */
export function takeRows(ctrl, slot, total, n) {
  const size = blockRows(total, n);
  const a = Atomics.add(ctrl, slot, 1) * size;
  return a < total ? [a, Math.min(total, a + size)] : null;
}

const pad32 = (n) => (n + 31) & ~31;

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
    for (let ab = takeRows(ctrl, C.NEXT1, total, n); ab !== null; ab = takeRows(ctrl, C.NEXT1, total, n)) {
      const [a, b] = ab;
      let base = 0;
      for (let i = 0; i < count && base < b; i++) {
        const o = P + 8 + i * MAT_SLOTS;
        const rows = u32[o + 2];
        const lo = Math.max(0, a - base);
        const hi = Math.min(rows, b - base);
        if (lo < hi) ex.rows(u32[o], u32[o + 1], u32[o + 3], u32[o + 4], x, xd, tokens, lo, hi, u32[o + 5], rows, tmp);
        base += rows;
      }
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
  for (let ab = takeRows(ctrl, C.NEXT1, I, n); ab !== null; ab = takeRows(ctrl, C.NEXT1, I, n)) {
    const [a, b] = ab;
    ex.rows(u32[m], u32[m + 1], H, u32[m + 2], x, xd, tokens, a, b, g, I, tmp);
    ex.rows(u32[m + 3], u32[m + 4], H, u32[m + 5], x, xd, tokens, a, b, u, I, tmp);
    for (let t = 0; t < tokens; t++) {
      const o = (t * I + a) * 4;
      ex.swiglu(g + o, g + o, u + o, b - a, tmp);
      if (gd !== 0) ex.deinterleave(gd + (t * pad32(I) + a) * 4, g + o, b - a);
    }
    Atomics.add(ctrl, C.H_DONE, b - a);
  }
  // down needs all of h: wait for blocks other threads are still finishing (or for one of them to fail)
  while (Atomics.load(ctrl, C.H_DONE) < I) {
    if (Atomics.load(ctrl, C.ERROR) !== 0) return;
  }
  for (let ab = takeRows(ctrl, C.NEXT2, D, n); ab !== null; ab = takeRows(ctrl, C.NEXT2, D, n)) {
    const [a, b] = ab;
    ex.rows(u32[m + 6], u32[m + 7], I, u32[m + 8], g, gd, tokens, a, b, y, D, tmp);
    ex.accumulate(out, y, scale, tokens, D, a, b);
  }
}
