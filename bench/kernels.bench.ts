/**
 * Kernel benchmark: bf16 mat-vec (decode) bandwidth of each implementation with 1 and 2 threads on a
 * 470 MB working set (64 × 3584×1024 bf16 matrices, cycled so caches cannot help), the read bandwidth
 * of the same machine measured in the same run by the anchor's membw.c (interleaved with our rounds:
 * these machines change speed within minutes), their ratio, a decode step of fused expert FFNs, the
 * per-call overhead, and prefill GFLOP/s at 128 tokens.
 *
 *   node --import tsx bench/kernels.bench.ts          (npm run bench:kernels) prints one JSON object
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { JsKernels } from '../src/engine/kernels/js.ts';
import { NativeKernels } from '../src/engine/kernels/native.ts';
import type { Kernels, WeightMatrix } from '../src/engine/kernels/types.ts';
import { WasmKernels } from '../src/engine/kernels/wasm.ts';

const MEMBW_SRC = '/work/shared/anchors/llamacpp/membw.c';
const MEMBW_BIN = '/tmp/blyan-membw';

export interface BenchKernelsOptions {
  /** Rounds per configuration (best and median are reported). Default 5. */
  rounds?: number;
  /** Matrices in the working set (each 3584×1024 bf16 = 7.34 MB). Default 64 (470 MB). */
  matrices?: number;
}

interface Stats {
  best: number;
  median: number;
  all: number[];
}

function stats(v: number[]): Stats {
  const s = [...v].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  return { best: r(s[s.length - 1] ?? 0), median: r(s[Math.floor(s.length / 2)] ?? 0), all: v.map(r) };
}

function fillBf16(u8: Uint8Array, seed: number): void {
  const u32 = new Uint32Array(u8.buffer, u8.byteOffset, u8.byteLength >>> 2);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < u32.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    u32[i] = (s & 0x807f807f) | 0x3c003c00; // |w| in [2^-7, 2^-6), random signs and mantissas
  }
}

function randomVector(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.sin(i * 0.7311 + seed);
  return v;
}

/** Matrices rows×cols bf16, all views on one buffer, `offset` bytes in (a multiple of 4, like LMDB views). */
function workingSet(count: number, rows: number, cols: number, seed: number, offset: number): WeightMatrix[] {
  const per = rows * cols * 2;
  const buf = new Uint8Array(offset + per * count);
  fillBf16(buf.subarray(offset), seed);
  return Array.from({ length: count }, (_, i) => ({ dtype: 'bf16' as const, rows, cols, data: buf.subarray(offset + i * per, offset + (i + 1) * per) }));
}

function membwBinary(): string | null {
  if (existsSync(MEMBW_BIN)) return MEMBW_BIN;
  if (!existsSync(MEMBW_SRC)) return null;
  const r = spawnSync('gcc', ['-O3', '-march=native', '-pthread', '-o', MEMBW_BIN, MEMBW_SRC], { encoding: 'utf8' });
  return r.status === 0 ? MEMBW_BIN : null;
}

function membw(bin: string, threads: number, mib: number): number {
  const r = spawnSync(bin, [String(threads), String(mib), '3'], { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return (JSON.parse(line) as { best_GBps: number }).best_GBps;
  } catch {
    return Number.NaN;
  }
}

/** GB/s of one pass of tokens=1 matmuls over the working set. */
function decodePass(k: Kernels, ws: WeightMatrix[], x: Float32Array, out: Float32Array): number {
  const t0 = performance.now();
  for (const w of ws) k.matmul(out, w, x, 1);
  const s = (performance.now() - t0) / 1000;
  return ws.reduce((a, w) => a + w.data.byteLength, 0) / s / 1e9;
}

interface Expert {
  gate: WeightMatrix;
  up: WeightMatrix;
  down: WeightMatrix;
}

/** One MoE decode step's expert work: every expert once, tokens = 1, with a routing weight. Returns GB/s. */
function expertPass(k: Kernels, experts: Expert[], x: Float32Array, out: Float32Array): number {
  const t0 = performance.now();
  for (const e of experts) k.expertFfn(out, e.gate, e.up, e.down, x, 1, [0.5]);
  const s = (performance.now() - t0) / 1000;
  return experts.reduce((a, e) => a + e.gate.data.byteLength + e.up.data.byteLength + e.down.data.byteLength, 0) / s / 1e9;
}

/** Prefill GFLOP/s (best of 3; one FLOP = one multiply or one add): tokens=128 through a 3584×1024 and a 1024×3584 bf16 matrix. */
function prefill(k: Kernels, mats: WeightMatrix[], tokens: number): number {
  const xs = mats.map((w) => randomVector(w.cols * tokens, 3));
  const outs = mats.map((w) => new Float32Array(w.rows * tokens));
  let bestRate = 0;
  for (let round = 0; round < 3; round++) {
    let flop = 0;
    const t0 = performance.now();
    for (const [i, w] of mats.entries()) {
      k.matmul(outs[i] as Float32Array, w, xs[i] as Float32Array, tokens);
      flop += 2 * w.rows * w.cols * tokens;
    }
    bestRate = Math.max(bestRate, flop / ((performance.now() - t0) / 1000) / 1e9);
  }
  return bestRate;
}

/** Microseconds per call of a small f32 matmul (router-sized: 8×1024), i.e. the fixed cost of a call. */
function callOverhead(k: Kernels): number {
  const w: WeightMatrix = { dtype: 'f32', rows: 8, cols: 1024, data: new Uint8Array(8 * 1024 * 4) };
  const x = randomVector(1024, 1);
  const out = new Float32Array(8);
  for (let i = 0; i < 200; i++) k.matmul(out, w, x, 1);
  const n = 5000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) k.matmul(out, w, x, 1);
  return ((performance.now() - t0) * 1000) / n;
}

async function make(name: 'native' | 'wasm', threads: number): Promise<Kernels | null> {
  if (name === 'native') return NativeKernels.create({ threads });
  return WasmKernels.create({ threads });
}

export async function benchKernels(opts: BenchKernelsOptions = {}): Promise<Record<string, unknown>> {
  const rounds = opts.rounds ?? 5;
  const count = opts.matrices ?? 64;
  const R = 3584;
  const H = 1024;
  const ws = workingSet(count, R, H, 1, 16);
  const bytes = ws.reduce((a, w) => a + w.data.byteLength, 0);
  const x = randomVector(H, 2);
  const out = new Float32Array(R);
  const experts: Expert[] = [];
  {
    const [g, u] = [workingSet(16, R, H, 5, 16), workingSet(16, R, H, 6, 16)];
    const d = workingSet(16, H, R, 7, 16);
    for (let i = 0; i < 16; i++) experts.push({ gate: g[i] as WeightMatrix, up: u[i] as WeightMatrix, down: d[i] as WeightMatrix });
  }
  const expertBytes = experts.reduce((a, e) => a + e.gate.data.byteLength * 3, 0);
  const ffnOut = new Float32Array(H);

  const bin = membwBinary();
  const mib = Math.round(bytes / 2 ** 20);
  const bw: Record<string, number[]> = { t1: [], t2: [] };
  const sampleBandwidth = () => {
    if (bin === null) return;
    bw['t1']?.push(membw(bin, 1, mib));
    bw['t2']?.push(membw(bin, 2, mib));
  };

  const result: Record<string, unknown> = {
    bench: 'kernels',
    working_set: `${count} × ${R}×${H} bf16 (views at byte offset 16), tokens = 1`,
    working_set_bytes: bytes,
  };
  const decode: Record<string, unknown> = {};
  const expert: Record<string, unknown> = {};
  const pre: Record<string, unknown> = {};
  const overhead: Record<string, unknown> = {};
  const best: Record<string, number> = {};

  const configs: [('native' | 'wasm'), number][] = [
    ['native', 1],
    ['native', 2],
    ['wasm', 1],
    ['wasm', 2],
  ];
  const kernels = new Map<string, Kernels>();
  for (const [name, threads] of configs) {
    const k = await make(name, threads);
    if (k === null) {
      decode[`${name}_${threads}t`] = 'not built';
      continue;
    }
    kernels.set(`${name}_${threads}t`, k);
    decodePass(k, ws, x, out); // warm-up (wasm: copies the working set into its cache)
    expertPass(k, experts, x, ffnOut);
  }
  const samples = new Map<string, number[]>();
  const expertSamples = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    sampleBandwidth();
    for (const [label, k] of kernels) {
      samples.set(label, [...(samples.get(label) ?? []), decodePass(k, ws, x, out)]);
      expertSamples.set(label, [...(expertSamples.get(label) ?? []), expertPass(k, experts, x, ffnOut)]);
    }
  }
  sampleBandwidth();
  for (const [label, k] of kernels) {
    const s = stats(samples.get(label) ?? []);
    decode[label] = { isa: k.isa, GBps: s };
    best[label] = s.best;
    expert[label] = stats(expertSamples.get(label) ?? []);
    pre[label] = Math.round(prefill(k, [ws[0] as WeightMatrix, (experts[0] as Expert).down], 128) * 10) / 10;
    overhead[label] = Math.round(callOverhead(k) * 100) / 100;
  }
  for (const k of kernels.values()) await k.close();

  // plain JS on one matrix only (a full pass would take minutes)
  const js = new JsKernels();
  const t0 = performance.now();
  js.matmul(out, ws[0] as WeightMatrix, x, 1);
  decode['js_1t'] = { GBps: Math.round(((ws[0] as WeightMatrix).data.byteLength / ((performance.now() - t0) / 1000) / 1e9) * 1000) / 1000, note: 'one 7.3 MB matrix' };

  result['decode_bf16_matvec'] = decode;
  result['expert_ffn_decode'] = { what: `16 experts × (gate, up 3584×1024 + down 1024×3584) bf16, tokens = 1: ${expertBytes} bytes per pass`, GBps: expert };
  result['prefill_GFLOPps_tokens128'] = pre;
  result['call_overhead_us_8x1024_f32'] = overhead;
  if (bin === null) {
    result['membw'] = `skipped: gcc or ${MEMBW_SRC} not available`;
  } else {
    const b1 = stats(bw['t1'] ?? []);
    const b2 = stats(bw['t2'] ?? []);
    result['membw'] = { source: MEMBW_SRC, MiB: mib, t1_GBps: b1, t2_GBps: b2 };
    const ratio = (label: string, ref: Stats) => (best[label] === undefined ? null : Math.round(((best[label] as number) / ref.best) * 100) / 100);
    result['ratio_best_vs_membw_best'] = {
      native_1t_vs_membw_1t: ratio('native_1t', b1),
      native_2t_vs_membw_2t: ratio('native_2t', b2),
      wasm_1t_vs_membw_1t: ratio('wasm_1t', b1),
      wasm_2t_vs_membw_2t: ratio('wasm_2t', b2),
    };
  }
  if (best['native_2t'] !== undefined) {
    result['decode_tok_per_s_if_only_weights'] = Math.round((best['native_2t'] * 1e9) / 460_134_400);
  }
  return result;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`${JSON.stringify(await benchKernels())}\n`);
}
