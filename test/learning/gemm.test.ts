/**
 * One suite for every training GEMM (native per instruction set and thread count, wasm, js): each must
 * match the JS reference within an f32 bound (|c − ref| ≤ 1e-5·(Σ|a·b| + |c₀|)) over all transposes,
 * accumulate on and off, odd and training shapes, views at offsets and batches; never write outside C;
 * propagate NaN; be independent of the thread count and repeatable bit for bit; and refuse bad arguments
 * with ENGINE_BAD_INPUT before touching memory.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { ADDON_PATH } from '../../src/engine/kernels/native.ts';
import { isBlyanError } from '../../src/errors.ts';
import { loadGemm } from '../../src/learning/gemm/index.ts';
import { JsGemm } from '../../src/learning/gemm/jsGemm.ts';
import { gemmAddonLoadError, loadGemmAddon, NativeGemm } from '../../src/learning/gemm/native.ts';
import type { Gemm } from '../../src/learning/gemm/types.ts';
import { GEMM_WASM_PATH, gemmWasmLoadError, WasmGemm } from '../../src/learning/gemm/wasm.ts';

// ---- data ----

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SENTINEL = -12345.5;

/** n random values in a view `pad` elements into a larger buffer whose other elements hold SENTINEL. */
function view(n: number, seed: number, pad = 3): Float32Array {
  const r = rng(seed);
  const buf = new Float32Array(pad + n + 5).fill(SENTINEL);
  const v = buf.subarray(pad, pad + n);
  for (let i = 0; i < n; i++) v[i] = (r() * 2 - 1) * (r() < 0.05 ? 8 : 1);
  return v;
}

function whole(v: Float32Array): Float32Array {
  return new Float32Array(v.buffer);
}

function abs(v: Float32Array): Float32Array {
  return v.map(Math.abs);
}

const js = new JsGemm();

/** Asserts |got − ref| ≤ 1e-5·(mag) elementwise (mag = Σ|a·b| + |c₀|), NaN where ref is NaN. */
function assertClose(got: Float32Array, ref: Float32Array, mag: Float32Array, what: string): void {
  assert.equal(got.length, ref.length);
  for (let i = 0; i < ref.length; i++) {
    const g = got[i] as number, e = ref[i] as number;
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(g), `${what}: [${i}] expected NaN, got ${g}`);
      continue;
    }
    const bound = 1e-5 * (mag[i] as number) + 1e-30;
    if (!(Math.abs(g - e) <= bound)) assert.fail(`${what}: [${i}] got ${g}, expected ${e} (bound ${bound})`);
  }
}

function assertUntouchedOutside(v: Float32Array, what: string): void {
  const all = whole(v);
  const start = v.byteOffset / 4;
  for (let i = 0; i < all.length; i++) {
    if (i >= start && i < start + v.length) continue;
    assert.equal(all[i], SENTINEL, `${what}: wrote outside C at ${i - start}`);
  }
}

// ---- implementations ----

interface Impl {
  label: string;
  make: () => Gemm | null;
}

const addon = loadGemmAddon();
const isas = addon === null ? [] : ['avx512', 'avx2', 'scalar'];
const impls: Impl[] = [];
for (const isa of isas) {
  for (const threads of [1, 2]) impls.push({ label: `native ${isa} ×${threads}`, make: () => tryNative(isa, threads) });
}
impls.push({ label: 'wasm', make: () => WasmGemm.create() });
impls.push({ label: 'js', make: () => new JsGemm() });

function tryNative(isa: string, threads: number): NativeGemm | null {
  try {
    return NativeGemm.create({ threads, isa });
  } catch {
    return null; // this CPU lacks the instruction set
  }
}

const opened: Gemm[] = [];
after(async () => {
  for (const g of opened) await g.close();
});

function open(impl: Impl): Gemm | null {
  const g = impl.make();
  if (g !== null) opened.push(g);
  return g;
}

// ---- cases ----

type Shape = readonly [M: number, N: number, K: number];
const SHAPES: readonly Shape[] = [
  [1, 1, 1],
  [1, 7, 3],
  [3, 1, 5],
  [2, 3, 0],
  [14, 32, 256],
  [15, 33, 257],
  [13, 17, 600],
  [37, 71, 129],
  [64, 65, 128],
  [100, 130, 300],
];

interface Case {
  tA: boolean;
  tB: boolean;
  acc: boolean;
  shape: Shape;
  A: Float32Array;
  B: Float32Array;
  C0: Float32Array;
  ref: Float32Array;
  mag: Float32Array;
}

function makeCase(shape: Shape, tA: boolean, tB: boolean, acc: boolean, seed: number, pads: [number, number, number] = [3, 1, 2]): Case {
  const [M, N, K] = shape;
  const A = view(M * K, seed, pads[0]);
  const B = view(K * N, seed + 1, pads[1]);
  const C0 = view(M * N, seed + 2, pads[2]);
  const ref = C0.slice();
  js.sgemm(tA, tB, M, N, K, A, B, ref, acc);
  const mag = acc ? abs(C0) : new Float32Array(M * N);
  js.sgemm(tA, tB, M, N, K, abs(A), abs(B), mag, true);
  return { tA, tB, acc, shape, A, B, C0, ref, mag };
}

function runCase(g: Gemm, c: Case): Float32Array {
  const [M, N, K] = c.shape;
  const C = view(M * N, 0, 2);
  C.set(c.C0);
  g.sgemm(c.tA, c.tB, M, N, K, c.A, c.B, C, c.acc);
  assertUntouchedOutside(C, 'sgemm');
  return C;
}

const cases: Case[] = [];
{
  let seed = 1;
  for (const shape of SHAPES)
    for (const tA of [false, true])
      for (const tB of [false, true])
        for (const acc of [false, true]) {
          seed += 7;
          cases.push(makeCase(shape, tA, tB, acc, seed));
        }
  // training shapes: tokens × hidden (forward, input gradient) and the weight gradient with K = tokens
  cases.push(makeCase([512, 128, 128], false, true, false, 901));
  cases.push(makeCase([512, 65, 128], false, false, false, 902));
  cases.push(makeCase([128, 256, 2048], true, false, true, 903));
  // every alignment of the views
  for (let p = 0; p < 4; p++) cases.push(makeCase([21, 35, 40], p % 2 === 1, p > 1, false, 950 + p, [p, (p + 1) % 4, (p + 2) % 4]));
}

describe('JsGemm reference', () => {
  it('matches float64 sums of products', () => {
    const A = view(6, 1), B = view(6, 2), C = new Float32Array(4);
    js.sgemm(false, false, 2, 2, 3, A, B, C, false);
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 2; j++) {
        let s = 0;
        for (let k = 0; k < 3; k++) s += (A[i * 3 + k] as number) * (B[k * 2 + j] as number);
        assert.equal(C[i * 2 + j], Math.fround(s));
      }
  });
});

for (const impl of impls) {
  describe(`gemm ${impl.label}`, () => {
    const g = open(impl);
    const skip = g === null ? `${impl.label} is not available here (${gemmAddonLoadError() || gemmWasmLoadError() || 'CPU lacks it'})` : false;

    it('matches the reference on every transpose, accumulate, shape and alignment', { skip }, () => {
      for (const c of cases) {
        const got = runCase(g as Gemm, c);
        assertClose(got, c.ref, c.mag, `${c.shape.join('×')} tA=${c.tA} tB=${c.tB} acc=${c.acc}`);
      }
    });

    it('batches: strided products with gaps, a shared B (stride 0), attention shapes', { skip }, () => {
      const gg = g as Gemm;
      const batches: [count: number, tA: boolean, tB: boolean, M: number, N: number, K: number, sa: number, sb: number, sc: number, acc: boolean][] = [
        [5, false, true, 9, 13, 7, 70, 95, 120, false],
        [4, true, false, 6, 33, 17, 102, 0, 200, true],
        [16, false, true, 128, 128, 32, 128 * 32, 128 * 32, 128 * 128, false],
        [16, false, false, 128, 32, 128, 128 * 128, 128 * 32, 128 * 32, false],
        [16, true, false, 128, 32, 128, 128 * 128, 128 * 32, 128 * 32, true],
      ];
      let seed = 300;
      for (const [count, tA, tB, M, N, K, sa, sb, sc, acc] of batches) {
        seed += 3;
        const A = view((count - 1) * sa + M * K, seed);
        const B = view((count - 1) * sb + K * N, seed + 1);
        const C0 = view((count - 1) * sc + M * N, seed + 2);
        const ref = C0.slice();
        js.sgemmBatch(count, tA, tB, M, N, K, A, sa, B, sb, ref, sc, acc);
        // the batch equals its products one by one
        const one = C0.slice();
        for (let i = 0; i < count; i++) {
          js.sgemm(tA, tB, M, N, K, A.subarray(i * sa), B.subarray(i * sb), one.subarray(i * sc, i * sc + M * N), acc);
        }
        assert.deepEqual(one, ref);
        const mag = acc ? abs(C0) : new Float32Array(C0.length);
        js.sgemmBatch(count, tA, tB, M, N, K, abs(A), sa, abs(B), sb, mag, sc, true);
        const C = view(C0.length, 0, 1);
        C.set(C0);
        gg.sgemmBatch(count, tA, tB, M, N, K, A, sa, B, sb, C, sc, acc);
        assertUntouchedOutside(C, 'sgemmBatch');
        assertClose(C, ref, mag, `batch ${count}×${M}×${N}×${K}`);
      }
    });

    it('propagates NaN and Inf', { skip }, () => {
      const gg = g as Gemm;
      const [M, N, K] = [20, 40, 30];
      const A = view(M * K, 71), B = view(K * N, 72);
      A[5 * K + 7] = Number.NaN; // row 5 of C
      B[3 * N + 11] = Number.POSITIVE_INFINITY; // column 11 of C: ±Inf (or NaN at row 5)
      const C = new Float32Array(M * N);
      gg.sgemm(false, false, M, N, K, A, B, C, false);
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          const v = C[i * N + j] as number;
          if (i === 5) assert.ok(Number.isNaN(v), `C[5,${j}] should be NaN`);
          else if (j === 11) assert.ok(!Number.isFinite(v), `C[${i},11] should be infinite`);
          else assert.ok(Number.isFinite(v), `C[${i},${j}] should be finite`);
        }
    });

    it('gives identical results on repeated calls', { skip }, () => {
      const gg = g as Gemm;
      const c = makeCase([70, 90, 300], false, true, true, 77);
      const first = runCase(gg, c);
      for (let r = 0; r < 3; r++) assert.deepEqual(runCase(gg, c), first);
    });

    it('K = 0 clears C (or leaves it when accumulating); M or N = 0 is a no-op', { skip }, () => {
      const gg = g as Gemm;
      const C = view(12, 5);
      const before = C.slice();
      gg.sgemm(false, false, 3, 4, 0, new Float32Array(0), new Float32Array(0), C, true);
      assert.deepEqual(C, before);
      gg.sgemm(true, true, 3, 4, 0, new Float32Array(0), new Float32Array(0), C, false);
      assert.deepEqual(C, new Float32Array(12));
      gg.sgemm(false, false, 0, 4, 5, new Float32Array(0), new Float32Array(20), new Float32Array(0), false);
      gg.sgemmBatch(0, false, false, 3, 4, 5, new Float32Array(0), 15, new Float32Array(0), 20, new Float32Array(0), 12, false);
    });

    it('refuses bad arguments with ENGINE_BAD_INPUT before touching memory', { skip }, () => {
      const gg = g as Gemm;
      const A = view(12, 1), B = view(20, 2), C = view(15, 3);
      const c0 = C.slice();
      const bad = (fn: () => void, what: string) =>
        assert.throws(fn, (e: unknown) => isBlyanError(e, 'ENGINE_BAD_INPUT'), `${what} should throw ENGINE_BAD_INPUT`);
      bad(() => gg.sgemm(false, false, 3, 5, 4, A, B, new Float32Array(14), false), 'C too short');
      bad(() => gg.sgemm(false, false, 3, 5, 5, A, B, C, false), 'A too short');
      bad(() => gg.sgemm(false, false, 3, 6, 4, A, B, C, false), 'B too short');
      bad(() => gg.sgemm(false, false, 1.5, 5, 4, A, B, C, false), 'non-integer M');
      bad(() => gg.sgemm(false, false, 3, -5, 4, A, B, C, false), 'negative N');
      bad(() => gg.sgemm(false, false, 3, 5, Number.NaN, A, B, C, false), 'NaN K');
      bad(() => gg.sgemm(false, false, 3, 5, 2 ** 40, A, B, C, false), 'huge K');
      bad(() => gg.sgemm(1 as unknown as boolean, false, 3, 5, 4, A, B, C, false), 'non-boolean transA');
      bad(() => gg.sgemm(false, false, 3, 5, 4, new Float64Array(12) as unknown as Float32Array, B, C, false), 'Float64Array');
      bad(() => gg.sgemm(false, false, 3, 5, 4, A, B, null as unknown as Float32Array, false), 'null C');
      const shared = new Float32Array(64);
      bad(() => gg.sgemm(false, false, 3, 5, 4, shared.subarray(0, 12), B, shared.subarray(10, 25), false), 'C overlapping A');
      bad(() => gg.sgemmBatch(2, false, false, 3, 5, 4, A, 0, B, 0, view(30, 4), 10, false), 'overlapping C matrices');
      bad(() => gg.sgemmBatch(3, false, false, 3, 5, 4, A, 12, B, 0, view(45, 4), 15, false), 'batch A too short');
      bad(() => gg.sgemmBatch(2, false, false, 3, 5, 4, A, 0, B, 0, view(30, 4), 15.5, false), 'non-integer stride');
      bad(() => gg.sgemmBatch(-1, false, false, 3, 5, 4, A, 0, B, 0, C, 15, false), 'negative count');
      assert.deepEqual(C, c0);
      assertUntouchedOutside(C, 'bad arguments');
      // disjoint views of one buffer are fine
      gg.sgemm(false, false, 3, 5, 4, shared.subarray(0, 12), B, shared.subarray(12, 27), false);
    });
  });
}

describe('native gemm: threads and the addon boundary', () => {
  const skip = addon === null ? `addon not available (${existsSync(ADDON_PATH) ? gemmAddonLoadError() : 'not built'})` : false;

  it('1 and 2 threads give bitwise identical results on every code path', { skip }, () => {
    const jobs: [Shape, boolean, boolean, boolean][] = [
      [[300, 200, 150], false, false, false],
      [[128, 256, 1100], true, false, true],
      [[97, 300, 64], false, true, false],
      [[33, 1000, 40], true, true, true],
    ];
    for (const isa of isas) {
      const g1 = tryNative(isa, 1), g2 = tryNative(isa, 2);
      if (g1 === null || g2 === null) continue;
      opened.push(g1, g2);
      let seed = 500;
      for (const [shape, tA, tB, acc] of jobs) {
        seed += 5;
        const c = makeCase(shape, tA, tB, acc, seed);
        assert.deepEqual(runCase(g2, c), runCase(g1, c), `${isa} ${shape.join('×')}`);
      }
      const count = 24, [M, N, K] = [128, 128, 32];
      const A = view(count * M * K, 1), B = view(count * N * K, 2);
      const C1 = new Float32Array(count * M * N), C2 = new Float32Array(count * M * N);
      g1.sgemmBatch(count, false, true, M, N, K, A, M * K, B, N * K, C1, M * N, false);
      g2.sgemmBatch(count, false, true, M, N, K, A, M * K, B, N * K, C2, M * N, false);
      assert.deepEqual(C2, C1, `${isa} batch`);
    }
  });

  it('the addon itself refuses bad sizes (a throw, not a crash)', { skip }, () => {
    const a = addon as NonNullable<typeof addon>;
    const h = a.gemmCreate(1, 0, 'best');
    const f = (n: number) => new Float32Array(n);
    assert.throws(() => a.sgemm(h, 1, false, false, 3, 5, 4, f(11), 0, f(20), 0, f(15), 0, false));
    assert.throws(() => a.sgemm(h, 2, false, false, 3, 5, 4, f(12), 0, f(20), 0, f(29), 15, false));
    assert.throws(() => a.sgemm(h, 1, false, false, 3, 5, 4.5, f(12), 0, f(20), 0, f(15), 0, false));
    assert.throws(() => a.sgemm(h, 2 ** 30, false, false, 3, 5, 4, f(12), 2 ** 40, f(20), 0, f(15), 15, false));
    const shared = f(64);
    assert.throws(() => a.sgemm(h, 1, false, false, 3, 5, 4, shared.subarray(0, 12), 0, f(20), 0, shared.subarray(8), 0, false));
    a.gemmDestroy(h);
    assert.throws(() => a.sgemm(h, 1, false, false, 3, 5, 4, f(12), 0, f(20), 0, f(15), 0, false));
  });
});

describe('loadGemm', () => {
  it('prefers native, then wasm, then js, and honours BLYAN_KERNELS', async () => {
    const saved = process.env['BLYAN_KERNELS'];
    try {
      delete process.env['BLYAN_KERNELS'];
      const best = await loadGemm({ threads: 1 });
      opened.push(best);
      assert.equal(best.name, addon !== null ? 'native' : existsSync(GEMM_WASM_PATH) ? 'wasm' : 'js');
      const preferJs = await loadGemm({ prefer: 'js' });
      assert.equal(preferJs.name, 'js');
      process.env['BLYAN_KERNELS'] = 'js';
      assert.equal((await loadGemm()).name, 'js');
      process.env['BLYAN_KERNELS'] = 'bogus';
      await assert.rejects(loadGemm(), (e: unknown) => isBlyanError(e, 'BAD_ARGUMENT'));
    } finally {
      if (saved === undefined) delete process.env['BLYAN_KERNELS'];
      else process.env['BLYAN_KERNELS'] = saved;
    }
  });
});
