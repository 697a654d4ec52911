/**
 * The native kernels: build/Release/blyan_kernels.node (native/kernels/*.c), a C addon with AVX-512,
 * AVX2 and scalar code paths chosen at run time and a persistent pool of worker threads. Calls are
 * synchronous; the calling thread does the first share of the rows.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { checkExpertFfn, checkMatmul, checkMatmulMany, checkSwiglu, DTYPE_CODE } from './check.ts';
import type { Kernels, WeightMatrix } from './types.ts';

type Handle = object & { readonly __brand?: 'blyan_kernels' };

interface Addon {
  cpu(): { avx512: boolean; avx2: boolean };
  create(threads: number, spinMicros: number, isa: string): Handle;
  destroy(h: Handle): void;
  info(h: Handle): { threads: number; isa: string };
  matmul(h: Handle, out: Float32Array, data: Uint8Array, dtype: number, rows: number, cols: number, scales: Float32Array | null, x: Float32Array, tokens: number): void;
  matmulMany(h: Handle, list: unknown[], x: Float32Array, tokens: number): void;
  swiglu(h: Handle, out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;
  expertFfn(h: Handle, out: Float32Array, ...rest: unknown[]): void;
}

export const ADDON_PATH = fileURLToPath(new URL('../../../build/Release/blyan_kernels.node', import.meta.url));

let addon: Addon | null | undefined;
let loadError = '';

/** The addon, or null when it was not built or does not load here (loadError() says why). */
export function loadAddon(): Addon | null {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
  } catch (err) {
    addon = null;
    loadError = err instanceof Error ? err.message : String(err);
  }
  return addon;
}

export function addonLoadError(): string {
  return loadError;
}

/** Instruction sets the native kernels can use on this CPU, best first. */
export function nativeIsas(): string[] {
  const a = loadAddon();
  if (a === null) return [];
  const cpu = a.cpu();
  return [...(cpu.avx512 ? ['avx512'] : []), ...(cpu.avx2 ? ['avx2'] : []), 'scalar'];
}

export interface NativeOptions {
  readonly threads: number;
  /** 'best' (default), 'avx512', 'avx2' or 'scalar'; BLYAN_NATIVE_ISA overrides 'best'. */
  readonly isa?: string;
  /** How long idle workers spin before sleeping (default 200 µs; BLYAN_SPIN_US). */
  readonly spinMicros?: number;
}

function matArgs(w: WeightMatrix): [Uint8Array, number, number, number, Float32Array | null] {
  return [w.data, DTYPE_CODE[w.dtype], w.rows, w.cols, w.scales ?? null];
}

export class NativeKernels implements Kernels {
  readonly name = 'native' as const;
  readonly threads: number;
  readonly isa: string;
  private handle: Handle | null;
  private scaleBuf = new Float32Array(16);

  private constructor(
    private readonly addon: Addon,
    handle: Handle,
  ) {
    this.handle = handle;
    const info = addon.info(handle);
    this.threads = info.threads;
    this.isa = info.isa;
  }

  /** Null when the addon is missing; throws when the requested instruction set is not available. */
  static create(opts: NativeOptions): NativeKernels | null {
    const a = loadAddon();
    if (a === null) return null;
    const envIsa = process.env['BLYAN_NATIVE_ISA'];
    const isa = opts.isa ?? (envIsa !== undefined && envIsa !== '' ? envIsa : 'best');
    const envSpin = Number(process.env['BLYAN_SPIN_US']);
    const spin = opts.spinMicros ?? (Number.isFinite(envSpin) && envSpin >= 0 ? envSpin : 200);
    return new NativeKernels(a, a.create(Math.max(1, Math.floor(opts.threads)), Math.floor(spin), isa));
  }

  private h(): Handle {
    if (this.handle === null) throw new Error('native kernels: used after close()');
    return this.handle;
  }

  matmul(out: Float32Array, w: WeightMatrix, x: Float32Array, tokens: number): void {
    checkMatmul(out, w, x, tokens);
    this.addon.matmul(this.h(), out, w.data, DTYPE_CODE[w.dtype], w.rows, w.cols, w.scales ?? null, x, tokens);
  }

  matmulMany(outs: readonly Float32Array[], ws: readonly WeightMatrix[], x: Float32Array, tokens: number): void {
    checkMatmulMany(outs, ws, x, tokens);
    const h = this.h();
    for (let start = 0; start < ws.length; start += 16) {
      const list: unknown[] = [];
      for (let i = start; i < Math.min(ws.length, start + 16); i++) list.push(outs[i], ...matArgs(ws[i] as WeightMatrix));
      this.addon.matmulMany(h, list, x, tokens);
    }
  }

  swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
    checkSwiglu(out, gate, up, n);
    this.addon.swiglu(this.h(), out, gate, up, n);
  }

  expertFfn(out: Float32Array, wGate: WeightMatrix, wUp: WeightMatrix, wDown: WeightMatrix, x: Float32Array, tokens: number, scale?: ArrayLike<number>): void {
    checkExpertFfn(out, wGate, wUp, wDown, x, tokens, scale);
    let s: Float32Array | null = null;
    if (scale !== undefined) {
      if (scale instanceof Float32Array) s = scale;
      else {
        if (this.scaleBuf.length < tokens) this.scaleBuf = new Float32Array(tokens);
        s = this.scaleBuf;
        for (let t = 0; t < tokens; t++) s[t] = scale[t] as number;
      }
    }
    this.addon.expertFfn(this.h(), out, ...matArgs(wGate), ...matArgs(wUp), ...matArgs(wDown), x, tokens, s);
  }

  async close(): Promise<void> {
    if (this.handle === null) return;
    this.addon.destroy(this.handle);
    this.handle = null;
  }
}
