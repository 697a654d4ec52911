/**
 * Training GEMM benchmark: GFLOP/s (a multiply and an add count as two) of each implementation on the
 * trainer's shapes — tokens × hidden products (M = 4096 tokens, K = 128, N ∈ {128, 256, 384, 65}), the
 * weight gradient (128×4096 · 4096×256, A transposed) and attention per batch × head (128 products of
 * 128×128×32 and 128×32×128 in one batched call). Native with 1 and 2 threads, wasm, js (a few shapes).
 * Best and median of a few rounds; about 15 s.
 *
 *   node --import tsx bench/gemm.bench.ts        prints one JSON object (also `npm run bench gemm`)
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { JsGemm } from '../src/learning/gemm/jsGemm.ts';
import { NativeGemm } from '../src/learning/gemm/native.ts';
import type { Gemm } from '../src/learning/gemm/types.ts';
import { WasmGemm } from '../src/learning/gemm/wasm.ts';

interface Shape {
  name: string;
  count: number;
  tA: boolean;
  tB: boolean;
  M: number;
  N: number;
  K: number;
}

const T = 4096;
const SHAPES: readonly Shape[] = [
  { name: `fwd ${T}x128x128`, count: 1, tA: false, tB: false, M: T, N: 128, K: 128 },
  { name: `fwd ${T}x256x128`, count: 1, tA: false, tB: false, M: T, N: 256, K: 128 },
  { name: `fwd ${T}x384x128`, count: 1, tA: false, tB: false, M: T, N: 384, K: 128 },
  { name: `fwd ${T}x65x128`, count: 1, tA: false, tB: false, M: T, N: 65, K: 128 },
  { name: `fwd B^T ${T}x128x128`, count: 1, tA: false, tB: true, M: T, N: 128, K: 128 },
  { name: `dX ${T}x128x256 (B^T)`, count: 1, tA: false, tB: true, M: T, N: 128, K: 256 },
  { name: `dW A^T 128x256x${T}`, count: 1, tA: true, tB: false, M: 128, N: 256, K: T },
  { name: 'attn QK^T 128 x 128x128x32', count: 128, tA: false, tB: true, M: 128, N: 128, K: 32 },
  { name: 'attn PV 128 x 128x32x128', count: 128, tA: false, tB: false, M: 128, N: 32, K: 128 },
];

function fill(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.sin(i * 0.7311 + seed) * 0.1;
  return v;
}

interface Result {
  best: number;
  median: number;
}

/** GFLOP/s of one shape: rounds until `budgetMs` has passed (at least `minRounds`, at most 30). */
function measure(g: Gemm, s: Shape, budgetMs: number, minRounds: number): Result {
  const A = fill(s.count * s.M * s.K, 1), B = fill(s.count * s.K * s.N, 2), C = new Float32Array(s.count * s.M * s.N);
  const call = () => g.sgemmBatch(s.count, s.tA, s.tB, s.M, s.N, s.K, A, s.M * s.K, B, s.K * s.N, C, s.M * s.N, false);
  call(); // warm-up: packing buffers, pages of C
  const flops = 2 * s.count * s.M * s.N * s.K;
  const rates: number[] = [];
  const start = performance.now();
  while (rates.length < 30 && (rates.length < minRounds || performance.now() - start < budgetMs)) {
    const t = performance.now();
    call();
    rates.push(flops / ((performance.now() - t) * 1e6));
  }
  rates.sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  return { best: r(rates[rates.length - 1] ?? 0), median: r(rates[Math.floor(rates.length / 2)] ?? 0) };
}

export async function benchGemm(): Promise<Record<string, unknown>> {
  const impls: { label: string; g: Gemm; shapes: readonly Shape[]; budgetMs: number; minRounds: number }[] = [];
  const cores = availableParallelism();
  let isa = 'none';
  for (const threads of [...new Set([1, Math.min(2, cores)])]) {
    const g = NativeGemm.create({ threads });
    if (g !== null) {
      isa = g.isa;
      impls.push({ label: `native ${g.isa} ${threads}t`, g, shapes: SHAPES, budgetMs: 250, minRounds: 5 });
    }
  }
  const w = WasmGemm.create();
  if (w !== null) impls.push({ label: 'wasm simd128 1t', g: w, shapes: SHAPES, budgetMs: 300, minRounds: 2 });
  impls.push({ label: 'js 1t', g: new JsGemm(), shapes: [SHAPES[0] as Shape, SHAPES[6] as Shape, SHAPES[7] as Shape], budgetMs: 0, minRounds: 1 });
  const results: Record<string, Record<string, Result>> = {};
  for (const { label, g, shapes, budgetMs, minRounds } of impls) {
    const byShape: Record<string, Result> = {};
    for (const s of shapes) byShape[s.name] = measure(g, s, budgetMs, minRounds);
    results[label] = byShape;
    await g.close();
  }
  return { bench: 'gemm', unit: 'GFLOP/s (best, median)', cores, isa, results };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`${JSON.stringify(await benchGemm(), null, 1)}\n`);
}
