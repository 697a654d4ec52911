/** Types of wasmJob.mjs (plain JS so that worker threads can load it without TypeScript). */
export interface WasmExports {
  rows(dt: number, w: number, cols: number, scales: number, x: number, xd: number, tokens: number, r0: number, r1: number, out: number, ostride: number, tmp: number): void;
  deinterleave(xd: number, x: number, n: number): void;
  swiglu(out: number, g: number, u: number, n: number, tmp: number): void;
  accumulate(out: number, y: number, scale: number, tokens: number, d: number, a: number, b: number): void;
}
export declare const C: { GEN: number; PENDING: number; STOP: number; H_DONE: number; ERROR: number; OP: number; NW: number; SPIN_US: number; NEXT1: number; NEXT2: number; P: number; OFFER: number };
export declare const MAX_THREADS: number;
export declare const CTRL_INTS: number;
export declare const OP_MATMUL: number;
export declare const OP_FFN: number;
export declare const MAT_SLOTS: number;
export declare const TMP_BASE: number;
export declare const TMP_BYTES: number;
export declare function blockRows(total: number, n: number): number;
export declare function takeRows(ctrl: Int32Array, slot: number, total: number, n: number): [number, number] | null;
export declare function runJob(ex: WasmExports, ctrl: Int32Array, u32: Uint32Array, id: number, n: number): void;
