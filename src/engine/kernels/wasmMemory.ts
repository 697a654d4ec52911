/**
 * Memory of the wasm kernels: one shared WebAssembly.Memory (wasm32: at most 4 GiB) that grows on
 * demand, a first-fit allocator over it, and the cache of weight copies.
 *
 * Weights live outside wasm memory (often LMDB views), and wasm code can only read its own memory, so
 * each matrix is copied in on first use and kept, least recently used first out, within a byte budget.
 * The cost: one copy per matrix (~10 GB/s) and up to `budget` bytes of resident memory on top of the
 * page cache. A matrix is found again by its `data` object: the bytes behind a given Uint8Array must not
 * change while the kernels may use it (weights are immutable in Blyan).
 */
import { BlyanError } from '../../errors.ts';
import type { WeightMatrix } from './types.ts';

// The WebAssembly global as far as these kernels use it (the project's type libraries do not declare it).
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
export type WasmModule = object & { readonly __wasmModule?: never };
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: true }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (m: WasmModule, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}
export const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const PAGE = 65536;
const ALIGN = 64;

interface Free {
  off: number;
  size: number;
}

export class WasmHeap {
  readonly memory: WasmMemory;
  u8: Uint8Array;
  f32: Float32Array;
  private top: number;
  private readonly free: Free[] = [];

  /** base: first byte the heap may use; maxBytes: the memory's maximum. */
  constructor(
    private readonly base: number,
    private readonly maxBytes: number,
  ) {
    const initial = Math.ceil(base / PAGE) + 16;
    this.memory = new Wasm.Memory({ initial, maximum: Math.ceil(maxBytes / PAGE), shared: true });
    this.top = base;
    this.u8 = new Uint8Array(this.memory.buffer);
    this.f32 = new Float32Array(this.memory.buffer);
  }

  private refresh(): void {
    this.u8 = new Uint8Array(this.memory.buffer);
    this.f32 = new Float32Array(this.memory.buffer);
  }

  /** Offset of `size` bytes (64-byte aligned), or -1 if the memory cannot hold them. */
  alloc(size: number): number {
    const need = Math.max(ALIGN, Math.ceil(size / ALIGN) * ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i] as Free;
      if (f.size < need) continue;
      const off = f.off;
      if (f.size === need) this.free.splice(i, 1);
      else {
        f.off += need;
        f.size -= need;
      }
      return off;
    }
    const off = this.top;
    const end = off + need;
    if (end > this.maxBytes) return -1;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch {
        return -1;
      }
      this.refresh();
    }
    this.top = end;
    return off;
  }

  release(off: number, size: number): void {
    const need = Math.max(ALIGN, Math.ceil(size / ALIGN) * ALIGN);
    let i = 0;
    while (i < this.free.length && (this.free[i] as Free).off < off) i++;
    this.free.splice(i, 0, { off, size: need });
    // coalesce with the next and the previous block
    const cur = this.free[i] as Free;
    const next = this.free[i + 1];
    if (next !== undefined && cur.off + cur.size === next.off) {
      cur.size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev !== undefined && prev.off + prev.size === cur.off) {
      prev.size += cur.size;
      this.free.splice(i, 1);
    }
    // give the last block back to the bump pointer
    const last = this.free[this.free.length - 1];
    if (last !== undefined && last.off + last.size === this.top) {
      this.top = last.off;
      this.free.pop();
    }
  }

  get used(): number {
    let f = 0;
    for (const b of this.free) f += b.size;
    return this.top - this.base - f;
  }
}

interface Entry {
  dtype: string;
  rows: number;
  cols: number;
  scalesRef: Float32Array | undefined;
  off: number;
  bytes: number;
  scales: number; // offset of the int8 scales, 0 if none
  scaleBytes: number;
  pins: number;
}

export function matrixBytes(w: WeightMatrix): number {
  return w.rows * w.cols * (w.dtype === 'f32' ? 4 : w.dtype === 'int8' ? 1 : 2);
}

/** Copies of weight matrices in wasm memory, least recently used evicted first, within `budget` bytes. */
export class WeightCache {
  private readonly entries = new Map<Uint8Array, Entry>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly heap: WasmHeap,
    private readonly budget: number,
  ) {}

  get cachedBytes(): number {
    return this.bytes;
  }

  /** The matrix in wasm memory, pinned until unpin(): { data offset, scales offset (0 if none) }. */
  pin(w: WeightMatrix): { data: number; scales: number } {
    let found = this.entries.get(w.data);
    // A transient matrix is reused only while pinned (the same scratch twice in one call): its bytes are current.
    if (found !== undefined && (w.transient === true || found.dtype !== w.dtype || found.rows !== w.rows || found.cols !== w.cols || found.scalesRef !== w.scales) && found.pins === 0) {
      this.drop(w.data, found); // the same bytes seen as another matrix: start over
      found = undefined;
    }
    if (found !== undefined) {
      this.entries.delete(w.data); // move to the most recently used end
      this.entries.set(w.data, found);
      found.pins++;
      this.hits++;
      return { data: found.off, scales: found.scales };
    }
    this.misses++;
    const bytes = matrixBytes(w);
    const scaleBytes = w.dtype === 'int8' ? w.rows * 4 : 0;
    const total = bytes + scaleBytes;
    if (total > this.budget) {
      throw new BlyanError('ENGINE_BAD_INPUT', `wasm kernels: a ${w.rows}×${w.cols} ${w.dtype} matrix (${total} bytes) exceeds the weight cache budget (${this.budget} bytes); raise wasmCacheBytes or BLYAN_WASM_CACHE_MB`);
    }
    while (this.bytes + total > this.budget && this.evictOne()) {}
    let off = this.heap.alloc(bytes);
    while (off < 0 && this.evictOne()) off = this.heap.alloc(bytes);
    if (off < 0) throw new BlyanError('ENGINE_BAD_INPUT', `wasm kernels: out of wasm memory for a ${total}-byte matrix`);
    let scales = 0;
    if (scaleBytes > 0) {
      scales = this.heap.alloc(scaleBytes);
      while (scales < 0 && this.evictOne()) scales = this.heap.alloc(scaleBytes);
      if (scales < 0) {
        this.heap.release(off, bytes);
        throw new BlyanError('ENGINE_BAD_INPUT', 'wasm kernels: out of wasm memory for int8 scales');
      }
      this.heap.f32.set((w.scales as Float32Array).subarray(0, w.rows), scales / 4);
    }
    this.heap.u8.set(w.data.subarray(0, bytes), off);
    this.entries.set(w.data, { dtype: w.dtype, rows: w.rows, cols: w.cols, scalesRef: w.scales, off, bytes, scales, scaleBytes, pins: 1 });
    this.bytes += total;
    return { data: off, scales };
  }

  unpin(w: WeightMatrix): void {
    const e = this.entries.get(w.data);
    if (e !== undefined && e.pins > 0) e.pins--;
    if (e !== undefined && e.pins === 0 && w.transient === true) this.drop(w.data, e); // scratch: never reused
  }

  private drop(key: Uint8Array, e: Entry): void {
    this.entries.delete(key);
    this.heap.release(e.off, e.bytes);
    if (e.scaleBytes > 0) this.heap.release(e.scales, e.scaleBytes);
    this.bytes -= e.bytes + e.scaleBytes;
  }

  /** Evicts the least recently used unpinned entry; false if there is none. */
  private evictOne(): boolean {
    for (const [key, e] of this.entries) {
      if (e.pins > 0) continue;
      this.drop(key, e);
      return true;
    }
    return false;
  }

  clear(): void {
    while (this.evictOne()) {}
  }
}
