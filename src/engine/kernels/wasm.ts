/**
 * The WebAssembly SIMD kernels: native/kernels/wasm/kernels.ts (AssemblyScript) built at install into
 * native/kernels/wasm/out/kernels.wasm, run on the calling thread plus long-lived worker threads that
 * share one WebAssembly.Memory. A call copies x into wasm memory, publishes the job in a shared control
 * block (wasmJob.mjs), wakes the workers, runs its own share of the rows, waits, and copies out back.
 * Weights are copied into wasm memory once and cached (wasmMemory.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { checkExpertFfn, checkMatmul, checkMatmulMany, checkSwiglu, DTYPE_CODE } from './check.ts';
import type { Kernels, WeightMatrix } from './types.ts';
import { C, CTRL_INTS, MAT_SLOTS, MAX_THREADS, OP_FFN, OP_MATMUL, runJob, TMP_BASE, TMP_BYTES, type WasmExports } from './wasmJob.mjs';
import { matrixBytes, Wasm, WasmHeap, type WasmModule, WeightCache } from './wasmMemory.ts';

export const WASM_PATH = fileURLToPath(new URL('../../../native/kernels/wasm/out/kernels.wasm', import.meta.url));
const WORKER_URL = new URL('./wasmWorker.mjs', import.meta.url);

const HEAP_BASE = 1 << 20; // below: per-thread scratch (TMP_BASE + id · TMP_BYTES)
const SMALL_BYTES = 96 * 1024; // below this many weight bytes × tokens a call runs on the calling thread alone
const MAX_MATRICES = 32;

let compiled: WasmModule | null | undefined;
let loadError = '';

function loadModule(): WasmModule | null {
  if (compiled !== undefined) return compiled;
  try {
    if (!existsSync(WASM_PATH)) throw new Error(`${WASM_PATH} is missing: run npm run build:wasm`);
    compiled = new Wasm.Module(readFileSync(WASM_PATH));
  } catch (err) {
    compiled = null;
    loadError = err instanceof Error ? err.message : String(err);
  }
  return compiled;
}

export function wasmLoadError(): string {
  return loadError;
}

export interface WasmOptions {
  readonly threads: number;
  /** Byte budget of the weight cache (default BLYAN_WASM_CACHE_MB or 2 GiB; at most ~3.5 GiB). */
  readonly cacheBytes?: number;
  /** How long idle workers spin before sleeping (default 200 µs; BLYAN_SPIN_US). */
  readonly spinMicros?: number;
}

const pad32 = (n: number) => (n + 31) & ~31;

export class WasmKernels implements Kernels {
  readonly name = 'wasm' as const;
  readonly isa = 'simd128';
  readonly threads: number;
  private readonly ctrl: Int32Array;
  private readonly u32: Uint32Array;
  private act = 0;
  private actBytes = 0;
  private closed = false;
  private busy = false;

  private constructor(
    private readonly ex: WasmExports,
    private readonly heap: WasmHeap,
    readonly cache: WeightCache,
    private readonly workers: Worker[],
    ctrlBuffer: SharedArrayBuffer,
  ) {
    this.threads = workers.length + 1;
    this.ctrl = new Int32Array(ctrlBuffer);
    this.u32 = new Uint32Array(ctrlBuffer);
  }

  /** Null when kernels.wasm was not built (wasmLoadError() says why). */
  static async create(opts: WasmOptions): Promise<WasmKernels | null> {
    const module = loadModule();
    if (module === null) return null;
    const envMb = Number(process.env['BLYAN_WASM_CACHE_MB']);
    const budget = Math.min(3.5 * 2 ** 30, opts.cacheBytes ?? (Number.isFinite(envMb) && envMb > 0 ? envMb * 2 ** 20 : 2 * 2 ** 30));
    const envSpin = Number(process.env['BLYAN_SPIN_US']);
    const spin = opts.spinMicros ?? (Number.isFinite(envSpin) && envSpin >= 0 ? envSpin : 200);
    const heap = new WasmHeap(HEAP_BASE, Math.min(2 ** 32 - 65536, HEAP_BASE + budget + 512 * 2 ** 20));
    const ex = new Wasm.Instance(module, { env: { memory: heap.memory } }).exports as unknown as WasmExports;
    const ctrlBuffer = new SharedArrayBuffer(4 * CTRL_INTS);
    new Int32Array(ctrlBuffer)[C.SPIN_US] = Math.floor(spin);
    const threads = Math.max(1, Math.min(Math.floor(opts.threads), MAX_THREADS, (HEAP_BASE - TMP_BASE) / TMP_BYTES));
    const workers: Worker[] = [];
    try {
      for (let id = 1; id < threads; id++) {
        const w = new Worker(WORKER_URL, { workerData: { module, memory: heap.memory, ctrlBuffer, id } });
        workers.push(w);
        await new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
          w.once('exit', (code) => reject(new Error(`wasm worker exited with code ${code}`)));
        });
        w.removeAllListeners();
        w.unref();
      }
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
    return new WasmKernels(ex, heap, new WeightCache(heap, budget), workers, ctrlBuffer);
  }

  /** Byte offset of an activation area of at least `bytes` (reused across calls, grown when needed). */
  private activations(bytes: number): number {
    if (bytes > this.actBytes) {
      if (this.actBytes > 0) this.heap.release(this.act, this.actBytes);
      const size = Math.max(bytes, Math.ceil(this.actBytes * 1.5));
      this.act = this.heap.alloc(size);
      if (this.act < 0) {
        this.actBytes = 0;
        throw new Error('wasm kernels: out of wasm memory for activations');
      }
      this.actBytes = size;
    }
    return this.act;
  }

  private enter(): void {
    if (this.closed) throw new Error('wasm kernels: used after close()');
    if (this.busy) throw new Error('wasm kernels: re-entered (one call at a time)');
    this.busy = true;
  }

  /** Runs the job in ctrl on up to `n` threads (the calling thread is worker 0; see wasmJob.mjs). */
  private run(n: number): void {
    const ctrl = this.ctrl;
    Atomics.store(ctrl, C.NEXT1, 0);
    Atomics.store(ctrl, C.NEXT2, 0);
    Atomics.store(ctrl, C.H_DONE, 0);
    if (n === 1) {
      runJob(this.ex, ctrl, this.u32, 0, 1);
      return;
    }
    ctrl[C.NW] = n;
    Atomics.store(ctrl, C.PENDING, n - 1);
    const g = (Atomics.load(ctrl, C.GEN) + 1) | 0;
    for (let i = 1; i < n; i++) Atomics.store(ctrl, C.OFFER + i, g << 2);
    Atomics.store(ctrl, C.GEN, g);
    Atomics.notify(ctrl, C.GEN);
    let failure: unknown = null;
    try {
      runJob(this.ex, ctrl, this.u32, 0, n);
    } catch (err) {
      failure = err;
      Atomics.store(ctrl, C.ERROR, 1);
    }
    for (let i = 1; i < n; i++) {
      if (Atomics.compareExchange(ctrl, C.OFFER + i, g << 2, (g << 2) + 2) === g << 2) Atomics.sub(ctrl, C.PENDING, 1);
    }
    for (let i = 0; ; i++) {
      const p = Atomics.load(ctrl, C.PENDING);
      if (p === 0) break;
      if (i > 20000) Atomics.wait(ctrl, C.PENDING, p, 1);
    }
    if (Atomics.exchange(ctrl, C.ERROR, 0) !== 0) throw failure ?? new Error('wasm kernels: a worker thread failed');
  }

  private threadsFor(bytes: number, tokens: number): number {
    return bytes * Math.max(1, tokens) < SMALL_BYTES ? 1 : this.threads;
  }

  /** Copies x (tokens × cols) in; when bf16 needs it, also its de-interleaved copy. Returns [x, xd]. */
  private putX(x: Float32Array, tokens: number, cols: number, at: number, needXd: boolean): [number, number] {
    const n = tokens * cols;
    this.heap.f32.set(x.subarray(0, n), at / 4);
    if (!needXd) return [at, 0];
    const xd = at + pad32(n) * 4 + 64;
    for (let t = 0; t < tokens; t++) this.ex.deinterleave(xd + t * pad32(cols) * 4, at + t * cols * 4, cols);
    return [at, xd];
  }

  matmul(out: Float32Array, w: WeightMatrix, x: Float32Array, tokens: number): void {
    checkMatmul(out, w, x, tokens);
    this.products([out], [w], x, tokens);
  }

  matmulMany(outs: readonly Float32Array[], ws: readonly WeightMatrix[], x: Float32Array, tokens: number): void {
    checkMatmulMany(outs, ws, x, tokens);
    for (let s = 0; s < ws.length; s += MAX_MATRICES) this.products(outs.slice(s, s + MAX_MATRICES), ws.slice(s, s + MAX_MATRICES), x, tokens);
  }

  /** matmulMany after the checks, at most MAX_MATRICES matrices. */
  private products(outs: readonly Float32Array[], ws: readonly WeightMatrix[], x: Float32Array, tokens: number): void {
    const total = ws.reduce((a, w) => a + w.rows, 0);
    if (tokens === 0 || total === 0) return;
    this.enter();
    const pinned: WeightMatrix[] = [];
    try {
      const cols = (ws[0] as WeightMatrix).cols;
      const needXd = ws.some((w) => w.dtype === 'bf16');
      const xBytes = (pad32(tokens * cols) + 16) * 4 + (needXd ? tokens * pad32(cols) * 4 + 64 : 0);
      const outBytes = ws.map((w) => pad32(tokens * w.rows) * 4);
      const at = this.activations(xBytes + outBytes.reduce((a, b) => a + b, 0));
      const u32 = this.u32;
      const P = C.P;
      let bytes = 0;
      let o = at + xBytes;
      for (const [i, w] of ws.entries()) {
        const { data, scales } = this.cache.pin(w);
        pinned.push(w);
        const s = P + 8 + i * MAT_SLOTS;
        u32[s] = DTYPE_CODE[w.dtype];
        u32[s + 1] = data;
        u32[s + 2] = w.rows;
        u32[s + 3] = w.cols;
        u32[s + 4] = scales;
        u32[s + 5] = o;
        o += outBytes[i] as number;
        bytes += matrixBytes(w);
      }
      const [xo, xd] = this.putX(x, tokens, cols, at, needXd);
      this.ctrl[C.OP] = OP_MATMUL;
      u32[P] = tokens;
      u32[P + 1] = ws.length;
      u32[P + 2] = xo;
      u32[P + 3] = xd;
      u32[P + 4] = total;
      this.run(this.threadsFor(bytes, tokens));
      const f32 = this.heap.f32;
      for (const [i, w] of ws.entries()) {
        const src = (u32[P + 8 + i * MAT_SLOTS + 5] as number) / 4;
        (outs[i] as Float32Array).set(f32.subarray(src, src + tokens * w.rows));
      }
    } finally {
      for (const w of pinned) this.cache.unpin(w);
      this.busy = false;
    }
  }

  swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
    checkSwiglu(out, gate, up, n);
    if (n === 0) return;
    this.enter();
    try {
      const at = this.activations(pad32(n) * 8 + 128);
      const u = at + pad32(n) * 4 + 64;
      this.heap.f32.set(gate.subarray(0, n), at / 4);
      this.heap.f32.set(up.subarray(0, n), u / 4);
      this.ex.swiglu(at, at, u, n, TMP_BASE);
      out.set(this.heap.f32.subarray(at / 4, at / 4 + n));
    } finally {
      this.busy = false;
    }
  }

  expertFfn(out: Float32Array, wGate: WeightMatrix, wUp: WeightMatrix, wDown: WeightMatrix, x: Float32Array, tokens: number, scale?: ArrayLike<number>): void {
    checkExpertFfn(out, wGate, wUp, wDown, x, tokens, scale);
    const H = wGate.cols;
    const I = wGate.rows;
    const D = wDown.rows;
    if (tokens === 0 || D === 0) return;
    this.enter();
    const pinned: WeightMatrix[] = [];
    try {
      const needXd = wGate.dtype === 'bf16' || wUp.dtype === 'bf16';
      const needGd = wDown.dtype === 'bf16';
      const xBytes = (pad32(tokens * H) + 16) * 4 + (needXd ? tokens * pad32(H) * 4 + 64 : 0);
      const ti = pad32(tokens * I) * 4;
      const td = pad32(tokens * D) * 4;
      const gdBytes = needGd ? tokens * pad32(I) * 4 : 0;
      const sBytes = pad32(tokens) * 4;
      const at = this.activations(xBytes + 2 * ti + gdBytes + 2 * td + sBytes);
      const g = at + xBytes;
      const u = g + ti;
      const gd = u + ti;
      const y = gd + gdBytes;
      const o = y + td;
      const sc = o + td;
      const u32 = this.u32;
      const P = C.P;
      const m = P + 12;
      for (const [k, w] of [wGate, wUp, wDown].entries()) {
        const { data, scales } = this.cache.pin(w);
        pinned.push(w);
        u32[m + 3 * k] = DTYPE_CODE[w.dtype];
        u32[m + 3 * k + 1] = data;
        u32[m + 3 * k + 2] = scales;
      }
      const [xo, xd] = this.putX(x, tokens, H, at, needXd);
      const f32 = this.heap.f32;
      f32.set(out.subarray(0, tokens * D), o / 4);
      if (scale !== undefined) for (let t = 0; t < tokens; t++) f32[sc / 4 + t] = scale[t] as number;
      this.ctrl[C.OP] = OP_FFN;
      u32[P] = tokens;
      u32[P + 1] = H;
      u32[P + 2] = I;
      u32[P + 3] = D;
      u32[P + 4] = xo;
      u32[P + 5] = xd;
      u32[P + 6] = g;
      u32[P + 7] = u;
      u32[P + 8] = needGd ? gd : 0;
      u32[P + 9] = y;
      u32[P + 10] = o;
      u32[P + 11] = scale === undefined ? 0 : sc;
      this.run(this.threadsFor(matrixBytes(wGate) + matrixBytes(wUp) + matrixBytes(wDown), tokens));
      out.set(f32.subarray(o / 4, o / 4 + tokens * D));
    } finally {
      for (const w of pinned) this.cache.unpin(w);
      this.busy = false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctrl, C.STOP, 1);
    Atomics.add(this.ctrl, C.GEN, 1);
    Atomics.notify(this.ctrl, C.GEN);
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.cache.clear();
  }
}
