/**
 * The native training GEMM: entry points of the blyan_kernels addon (native/kernels/gemm*.c), packing +
 * register-blocked micro-kernels (AVX-512 14×32, AVX2 6×16, scalar 4×16) chosen at run time, and a
 * persistent pool of worker threads that split C into tiles. Calls are synchronous; the calling thread
 * works too.
 */
import { createRequire } from 'node:module';
import { ADDON_PATH } from '../../engine/kernels/native.ts';
import { BlyanError } from '../../errors.ts';
import { CheckedGemm } from './checkedGemm.ts';

type Handle = object & { readonly __brand?: 'blyan_gemm' };

interface GemmAddon {
  gemmCreate(threads: number, spinMicros: number, isa: string): Handle;
  gemmDestroy(h: Handle): void;
  gemmInfo(h: Handle): { threads: number; isa: string; kc: number };
  sgemm(
    h: Handle,
    count: number,
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    A: Float32Array,
    strideA: number,
    B: Float32Array,
    strideB: number,
    C: Float32Array,
    strideC: number,
    accumulate: boolean,
  ): void;
}

let addon: GemmAddon | null | undefined;
let loadError = '';

/** The addon's GEMM entry points, or null when the addon was not built (or predates them). */
export function loadGemmAddon(): GemmAddon | null {
  if (addon !== undefined) return addon;
  try {
    const a = createRequire(import.meta.url)(ADDON_PATH) as Partial<GemmAddon>;
    if (typeof a.sgemm !== 'function' || typeof a.gemmCreate !== 'function') throw new Error(`${ADDON_PATH} has no GEMM: rebuild it (npm run build:native)`);
    addon = a as GemmAddon;
  } catch (err) {
    addon = null;
    loadError = err instanceof Error ? err.message : String(err);
  }
  return addon;
}

export function gemmAddonLoadError(): string {
  return loadError;
}

export interface NativeGemmOptions {
  readonly threads: number;
  /** 'best' (default), 'avx512', 'avx2' or 'scalar'; BLYAN_NATIVE_ISA overrides 'best'. */
  readonly isa?: string;
  /** How long idle workers spin before sleeping (default 200 µs; BLYAN_SPIN_US). */
  readonly spinMicros?: number;
}

export class NativeGemm extends CheckedGemm {
  readonly name = 'native' as const;
  readonly threads: number;
  /** The micro-kernel in use: 'avx512', 'avx2' or 'scalar'. */
  readonly isa: string;
  private handle: Handle | null;

  private constructor(
    private readonly addon: GemmAddon,
    handle: Handle,
  ) {
    super();
    this.handle = handle;
    const info = addon.gemmInfo(handle);
    this.threads = info.threads;
    this.isa = info.isa;
  }

  /** Null when the addon is missing; throws when the requested instruction set is not available. */
  static create(opts: NativeGemmOptions): NativeGemm | null {
    const a = loadGemmAddon();
    if (a === null) return null;
    const envIsa = process.env['BLYAN_NATIVE_ISA'];
    const isa = opts.isa ?? (envIsa !== undefined && envIsa !== '' ? envIsa : 'best');
    const envSpin = Number(process.env['BLYAN_SPIN_US']);
    const spin = opts.spinMicros ?? (Number.isFinite(envSpin) && envSpin >= 0 ? envSpin : 200);
    return new NativeGemm(a, a.gemmCreate(Math.max(1, Math.floor(opts.threads)), Math.floor(spin), isa));
  }

  private h(): Handle {
    if (this.handle === null) throw new BlyanError('ENGINE_BAD_INPUT', 'native gemm: used after close()');
    return this.handle;
  }

  /** The addon call; its own checks (or a concurrent call on this handle) surface as BlyanErrors too. */
  protected override run(
    count: number,
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    A: Float32Array,
    strideA: number,
    B: Float32Array,
    strideB: number,
    C: Float32Array,
    strideC: number,
    accumulate: boolean,
  ): void {
    const h = this.h();
    try {
      this.addon.sgemm(h, count, transA, transB, M, N, K, A, strideA, B, strideB, C, strideC, accumulate);
    } catch (err) {
      throw new BlyanError('ENGINE_BAD_INPUT', `native gemm: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async close(): Promise<void> {
    if (this.handle === null) return;
    this.addon.gemmDestroy(this.handle);
    this.handle = null;
  }
}
