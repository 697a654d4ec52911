/**
 * The WebAssembly SIMD training GEMM: native/kernels/wasm/gemm.ts (AssemblyScript) built at install into
 * native/kernels/wasm/out/gemm.wasm; the fallback where the native addon does not build. Runs on the
 * calling thread: a call copies the extents of A, B and C into the module's memory, runs, and copies C
 * back (the copies are O(M·K + K·N + M·N), the product O(M·N·K)).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BlyanError } from '../../errors.ts';
import { extent } from './check.ts';
import { CheckedGemm } from './checkedGemm.ts';

export const GEMM_WASM_PATH = fileURLToPath(new URL('../../../native/kernels/wasm/out/gemm.wasm', import.meta.url));

interface GemmExports {
  scratchBytes(N: number): number;
  sgemm(
    count: number,
    transA: number,
    transB: number,
    M: number,
    N: number,
    K: number,
    a: number,
    sa: number,
    b: number,
    sb: number,
    c: number,
    sc: number,
    accumulate: number,
    scratch: number,
  ): void;
}

// Minimal typings of the WebAssembly JS API (tsconfig has no "dom" lib).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
  Memory: new (d: { initial: number; maximum: number }) => WasmMemory;
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const PAGE = 65536;
const BASE = 65536; // below: the module's static data
const MAX_BYTES = 2 ** 32 - PAGE;

let compiled: object | null | undefined;
let loadError = '';

function loadModule(): object | null {
  if (compiled !== undefined) return compiled;
  try {
    if (!existsSync(GEMM_WASM_PATH)) throw new Error(`${GEMM_WASM_PATH} is missing: run npm run build:wasm`);
    compiled = new Wasm.Module(readFileSync(GEMM_WASM_PATH));
  } catch (err) {
    compiled = null;
    loadError = err instanceof Error ? err.message : String(err);
  }
  return compiled;
}

export function gemmWasmLoadError(): string {
  return loadError;
}

const align64 = (n: number) => Math.ceil(n / 64) * 64;

export class WasmGemm extends CheckedGemm {
  readonly name = 'wasm' as const;
  readonly threads = 1;
  private closed = false;

  private constructor(
    private readonly ex: GemmExports,
    private readonly memory: WasmMemory,
  ) {
    super();
  }

  /** Null when gemm.wasm was not built (gemmWasmLoadError() says why). */
  static create(): WasmGemm | null {
    const module = loadModule();
    if (module === null) return null;
    const memory = new Wasm.Memory({ initial: 2, maximum: MAX_BYTES / PAGE });
    const ex = new Wasm.Instance(module, { env: { memory, abort: () => {} } }).exports as GemmExports;
    return new WasmGemm(ex, memory);
  }

  protected override run(
    count: number,
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    A: Float32Array,
    sa: number,
    B: Float32Array,
    sb: number,
    C: Float32Array,
    sc: number,
    accumulate: boolean,
  ): void {
    if (this.closed) throw new BlyanError('ENGINE_BAD_INPUT', 'wasm gemm: used after close()');
    const ec = extent(count, sc, M, N);
    if (ec === 0) return;
    const ea = extent(count, sa, M, K), eb = extent(count, sb, K, N);
    const aOff = BASE, bOff = aOff + align64(4 * ea), cOff = bOff + align64(4 * eb), sOff = cOff + align64(4 * ec);
    const end = sOff + this.ex.scratchBytes(N);
    if (end > MAX_BYTES) throw new BlyanError('ENGINE_BAD_INPUT', `wasm gemm: the call needs ${end} bytes, more than wasm32 memory holds`, { need: end });
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch (err) {
        throw new BlyanError('ENGINE_BAD_INPUT', `wasm gemm: could not grow memory to ${end} bytes: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const buf = this.memory.buffer;
    new Float32Array(buf, aOff, ea).set(A.subarray(0, ea));
    new Float32Array(buf, bOff, eb).set(B.subarray(0, eb));
    const c = new Float32Array(buf, cOff, ec);
    c.set(C.subarray(0, ec));
    this.ex.sgemm(count, transA ? 1 : 0, transB ? 1 : 0, M, N, K, aOff, sa, bOff, sb, cOff, sc, accumulate ? 1 : 0, sOff);
    C.set(c);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
