/**
 * One suite for every kernel implementation (native per instruction set and thread count, wasm per
 * thread count, js): each must equal the JS oracle BIT FOR BIT (NaN payloads aside), for all dtypes,
 * odd shapes, tokens 1..5 and unaligned views; the oracle itself is checked against float64 sums.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { isBlyanError } from '../../src/errors.ts';
import { checkMatrix } from '../../src/engine/kernels/check.ts';
import { exp32, silu32 } from '../../src/engine/kernels/f32math.ts';
import { loadKernels } from '../../src/engine/kernels/index.ts';
import { decodeRow, JsKernels } from '../../src/engine/kernels/js.ts';
import { ADDON_PATH, addonLoadError, loadAddon, NativeKernels, nativeIsas } from '../../src/engine/kernels/native.ts';
import type { Kernels, WeightDType, WeightMatrix } from '../../src/engine/kernels/types.ts';
import { WasmKernels, wasmLoadError } from '../../src/engine/kernels/wasm.ts';

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

const DTYPES: readonly WeightDType[] = ['f32', 'bf16', 'f16', 'int8'];
const ESIZE: Record<WeightDType, number> = { f32: 4, bf16: 2, f16: 2, int8: 1 };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function f32ToF16(v: number): number {
  // round-to-nearest conversion good enough for test data (normal range only)
  f32[0] = v;
  const b = u32[0] as number;
  const s = (b >>> 16) & 0x8000;
  const e = ((b >>> 23) & 0xff) - 127 + 15;
  if (e <= 0) return s;
  if (e >= 31) return s | 0x7bff;
  return s | (e << 10) | ((b >>> 13) & 0x3ff);
}

/** A matrix whose data sits `pad` bytes into a larger buffer (pad a multiple of 4, not of 16). */
function randomMatrix(dtype: WeightDType, rows: number, cols: number, seed: number, pad = 4): WeightMatrix {
  const r = rng(seed);
  const n = rows * cols;
  const bytes = n * ESIZE[dtype];
  const buf = new Uint8Array(pad + bytes + 8);
  buf.fill(0xee);
  const data = buf.subarray(pad, pad + bytes);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < n; i++) {
    const v = (r() * 2 - 1) * (r() < 0.05 ? 8 : 1);
    if (dtype === 'f32') dv.setFloat32(i * 4, v, true);
    else if (dtype === 'bf16') {
      f32[0] = v;
      dv.setUint16(i * 2, (u32[0] as number) >>> 16, true);
    } else if (dtype === 'f16') dv.setUint16(i * 2, f32ToF16(v), true);
    else dv.setInt8(i, Math.round(v * 127) | 0);
  }
  if (dtype !== 'int8') return { dtype, rows, cols, data };
  const scales = new Float32Array(rows);
  for (let i = 0; i < rows; i++) scales[i] = 0.001 + r() * 0.02;
  return { dtype, rows, cols, data, scales };
}

function randomVector(n: number, seed: number, offset = 0): Float32Array {
  const r = rng(seed);
  const buf = new Float32Array(n + offset + 3);
  const v = buf.subarray(offset, offset + n);
  for (let i = 0; i < n; i++) v[i] = (r() * 2 - 1) * (r() < 0.02 ? 50 : 1);
  return v;
}

// ---- comparisons ----

const cmpA = new Float32Array(1);
const cmpB = new Float32Array(1);
const bitsA = new Uint32Array(cmpA.buffer);
const bitsB = new Uint32Array(cmpB.buffer);

/** Bitwise equality of f32 arrays, any NaN equal to any NaN. */
function assertSameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const a = got[i] as number;
    const b = want[i] as number;
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    cmpA[0] = a;
    cmpB[0] = b;
    if (bitsA[0] !== bitsB[0]) assert.fail(`${what}: element ${i} is ${a} (0x${(bitsA[0] as number).toString(16)}), oracle ${b} (0x${(bitsB[0] as number).toString(16)})`);
  }
}

/** float64 reference out[t*rows + r] and Σ|w·x| (the scale of the rounding error). */
function reference(w: WeightMatrix, x: Float32Array, tokens: number): { ref: Float64Array; mag: Float64Array } {
  const row = new Float32Array(w.cols);
  const ref = new Float64Array(tokens * w.rows);
  const mag = new Float64Array(tokens * w.rows);
  for (let r = 0; r < w.rows; r++) {
    decodeRow(w, r, row);
    const sc = w.dtype === 'int8' ? (w.scales?.[r] as number) : 1;
    for (let t = 0; t < tokens; t++) {
      let s = 0;
      let m = 0;
      for (let c = 0; c < w.cols; c++) {
        const p = (row[c] as number) * (x[t * w.cols + c] as number);
        s += p;
        m += Math.abs(p);
      }
      ref[t * w.rows + r] = s * sc;
      mag[t * w.rows + r] = m * Math.abs(sc);
    }
  }
  return { ref, mag };
}

// ---- the implementations under test ----

interface Impl {
  label: string;
  make: () => Promise<Kernels>;
}

const oracle = new JsKernels();
const impls: Impl[] = [{ label: 'js', make: async () => new JsKernels() }];
for (const isa of nativeIsas()) {
  for (const threads of [1, 2]) impls.push({ label: `native-${isa}-${threads}t`, make: async () => NativeKernels.create({ threads, isa }) as NativeKernels });
}
const wasmProbe = await WasmKernels.create({ threads: 1 });
await wasmProbe?.close();
if (wasmProbe !== null) {
  for (const threads of [1, 2]) impls.push({ label: `wasm-${threads}t`, make: async () => (await WasmKernels.create({ threads })) as Kernels });
}

/** Digests of the oracle's outputs in 'the canonical arithmetic is frozen' (first 16 hex digits of SHA-256). */
const FROZEN: string[] = [
  'f32:c60f435fde87fcb7',
  'bf16:0590299128e2cab6',
  'f16:e8eecfacd8baac66',
  'int8:66ceec82404e0042',
  'swiglu:cd9ac947dd1e234f',
  'ffn:2c3069f1a03998f2',
];

const SHAPES: readonly [number, number][] = [
  [1, 1],
  [1, 17],
  [3, 1],
  [2, 15],
  [5, 16],
  [7, 33],
  [9, 64],
  [13, 100],
  [17, 257],
  [31, 129],
  [40, 1024],
];

describe('kernel builds', () => {
  it('the native addon was built and loads (npm run build:native)', () => {
    assert.ok(existsSync(ADDON_PATH), `missing ${ADDON_PATH}: run npm run build:native (needs gcc, make, python3)`);
    assert.ok(loadAddon() !== null, `addon does not load: ${addonLoadError()}`);
    const isas = nativeIsas();
    assert.ok(isas.includes('scalar'));
    if (process.arch === 'x64') assert.ok(isas.includes('avx2') || isas.includes('avx512') || isas.length === 1);
  });

  it('the wasm kernels were built and load (npm run build:wasm)', async () => {
    const k = await WasmKernels.create({ threads: 1 });
    assert.ok(k !== null, `wasm kernels unavailable: ${wasmLoadError()}`);
    await k.close();
  });

  it('loadKernels prefers native, honours prefer and BLYAN_KERNELS', async () => {
    const best = await loadKernels({ threads: 1 });
    assert.equal(best.name, 'native');
    assert.equal(best.threads, 1);
    await best.close();
    const js = await loadKernels({ prefer: 'js' });
    assert.equal(js.name, 'js');
    await js.close();
    process.env['BLYAN_KERNELS'] = 'wasm';
    try {
      const w = await loadKernels({ threads: 2 });
      assert.equal(w.name, 'wasm');
      await w.close();
      process.env['BLYAN_KERNELS'] = 'bogus';
      await assert.rejects(loadKernels(), (e) => isBlyanError(e, 'BAD_ARGUMENT'));
    } finally {
      delete process.env['BLYAN_KERNELS'];
    }
  });
});

describe('the JS oracle', () => {
  it('is within 1e-5 · Σ|w·x| of float64 sums, every dtype', () => {
    for (const dtype of DTYPES) {
      for (const [rows, cols] of [[17, 1000], [5, 3584], [9, 37]] as const) {
        const w = randomMatrix(dtype, rows, cols, rows * 7 + cols);
        const x = randomVector(cols * 3, cols);
        const out = new Float32Array(rows * 3);
        oracle.matmul(out, w, x, 3);
        const { ref, mag } = reference(w, x, 3);
        for (let i = 0; i < out.length; i++) {
          const err = Math.abs((out[i] as number) - (ref[i] as number));
          assert.ok(err <= 1e-5 * (mag[i] as number) + 1e-30, `${dtype} ${rows}×${cols} [${i}]: ${out[i]} vs ${ref[i]} (Σ|wx| ${mag[i]})`);
          // and relative to the value itself when there is little cancellation
          if (Math.abs(ref[i] as number) > 0.1 * (mag[i] as number)) assert.ok(err <= 1e-5 * Math.abs(ref[i] as number) * 10);
        }
      }
    }
  });

  it('exp32 and silu32 are within a few ulp of the true functions', () => {
    for (let v = -87; v <= 88; v += 0.0137) {
      const x = Math.fround(v);
      const rel = Math.abs(exp32(x) - Math.exp(x)) / Math.exp(x);
      assert.ok(rel < 3e-7, `exp32(${x}) rel err ${rel}`);
    }
    for (let v = -30; v <= 30; v += 0.0091) {
      const g = Math.fround(v);
      const want = g / (1 + Math.exp(-g));
      assert.ok(Math.abs(silu32(g) - want) <= 5e-7 * Math.abs(want) + 1e-38, `silu32(${g})`);
    }
    assert.equal(exp32(Number.POSITIVE_INFINITY), Number.POSITIVE_INFINITY);
    assert.ok(exp32(Number.NEGATIVE_INFINITY) < 1e-37);
    assert.ok(Number.isNaN(exp32(Number.NaN)));
    assert.equal(silu32(Number.POSITIVE_INFINITY), Number.POSITIVE_INFINITY);
    assert.ok(Number.isNaN(silu32(Number.NEGATIVE_INFINITY)), 'silu(-inf) = -inf/inf = NaN, as in PyTorch');
  });

  it('rejects bad shapes, lengths and missing int8 scales with ENGINE_BAD_INPUT', () => {
    const w = randomMatrix('bf16', 4, 8, 1);
    const bad = (f: () => void) => assert.throws(f, (e) => isBlyanError(e, 'ENGINE_BAD_INPUT'));
    bad(() => oracle.matmul(new Float32Array(3), w, new Float32Array(8), 1));
    bad(() => oracle.matmul(new Float32Array(4), w, new Float32Array(7), 1));
    bad(() => oracle.matmul(new Float32Array(4), { ...w, rows: 5 }, new Float32Array(8), 1));
    bad(() => oracle.matmul(new Float32Array(4), w, new Float32Array(8), -1));
    bad(() => checkMatrix({ dtype: 'int8', rows: 2, cols: 2, data: new Uint8Array(4) }));
    const shared = new Float32Array(16);
    bad(() => oracle.matmul(shared.subarray(0, 4), w, shared.subarray(2, 10), 1));
  });
});

for (const impl of impls) {
  describe(`kernels ${impl.label}`, () => {
    let k: Kernels;
    before(async () => {
      k = await impl.make();
    });
    after(async () => {
      await k.close();
    });

    it('matmul equals the oracle bit for bit: all dtypes, odd shapes, tokens 1..5', () => {
      let seed = 1;
      for (const dtype of DTYPES) {
        for (const [rows, cols] of SHAPES) {
          const w = randomMatrix(dtype, rows, cols, seed++, 4 + 8 * (seed % 3));
          for (let tokens = 1; tokens <= 5; tokens++) {
            const x = randomVector(tokens * cols, seed++, seed % 3);
            const want = new Float32Array(tokens * rows);
            const got = new Float32Array(tokens * rows).fill(Number.NaN);
            oracle.matmul(want, w, x, tokens);
            k.matmul(got, w, x, tokens);
            assertSameBits(got, want, `${dtype} ${rows}×${cols} tokens=${tokens}`);
          }
        }
      }
    });

    it('large matrices (several threads work) equal the oracle; tokens 1, 3 and 9', () => {
      for (const dtype of DTYPES) {
        const w = randomMatrix(dtype, 301, 1031, 99 + dtype.length);
        for (const tokens of [1, 3, 9]) {
          const x = randomVector(tokens * 1031, tokens);
          const want = new Float32Array(tokens * 301);
          const got = new Float32Array(tokens * 301);
          oracle.matmul(want, w, x, tokens);
          k.matmul(got, w, x, tokens);
          assertSameBits(got, want, `${dtype} 301×1031 tokens=${tokens}`);
        }
      }
    });

    it('every byte offset of the data view gives the same bits (decode and prefill)', () => {
      for (const dtype of DTYPES) {
        const src = randomMatrix(dtype, 6, 96, 40 + dtype.length);
        const x = randomVector(96 * 2, 41);
        const want = new Float32Array(12);
        oracle.matmul(want, src, x, 2);
        const step = dtype === 'int8' ? 1 : 2;
        for (let off = 0; off < 64; off += step) {
          const buf = new Uint8Array(off + src.data.byteLength + 64);
          buf.set(src.data, off);
          const w: WeightMatrix = { ...src, data: buf.subarray(off, off + src.data.byteLength) };
          for (const tokens of [1, 2]) {
            const got = new Float32Array(6 * tokens);
            k.matmul(got, w, x, tokens);
            assertSameBits(got, want.subarray(0, 6 * tokens), `${dtype} byte offset ${off} tokens=${tokens}`);
          }
        }
      }
    });

    it('leaves weights and x untouched, writes only tokens × rows outputs, repeats exactly', () => {
      const w = randomMatrix('bf16', 70, 300, 5);
      const before = w.data.slice();
      const x = randomVector(600, 6);
      const xCopy = x.slice();
      const out = new Float32Array(70 * 2 + 5).fill(7);
      k.matmul(out, w, x, 2);
      const first = out.slice();
      for (let i = 0; i < 3; i++) k.matmul(out, w, x, 2);
      assert.deepEqual(w.data, before);
      assert.deepEqual(x, xCopy);
      assertSameBits(out, first, 'repeat');
      assert.deepEqual([...out.subarray(140)], [7, 7, 7, 7, 7]);
    });

    it('matmulMany equals separate matmuls', () => {
      const ws = [randomMatrix('bf16', 64, 96, 1), randomMatrix('f32', 33, 96, 2), randomMatrix('int8', 5, 96, 3), randomMatrix('f16', 200, 96, 4)];
      for (const tokens of [1, 4]) {
        const x = randomVector(96 * tokens, 8);
        const outs = ws.map((w) => new Float32Array(w.rows * tokens));
        k.matmulMany(outs, ws, x, tokens);
        for (const [i, w] of ws.entries()) {
          const want = new Float32Array(w.rows * tokens);
          oracle.matmul(want, w, x, tokens);
          assertSameBits(outs[i] as Float32Array, want, `matmulMany[${i}] tokens=${tokens}`);
        }
      }
    });

    it('propagates NaN and Infinity', () => {
      for (const dtype of ['f32', 'bf16', 'f16'] as const) {
        const w = randomMatrix(dtype, 4, 40, 11);
        const dv = new DataView(w.data.buffer, w.data.byteOffset, w.data.byteLength);
        const es = ESIZE[dtype];
        // row 0: a NaN weight; row 1: +Inf weight; row 2: -Inf and +Inf (Inf - Inf = NaN); row 3 finite
        const nan = dtype === 'f32' ? 0x7fc00000 : dtype === 'bf16' ? 0x7fc0 : 0x7e00;
        const inf = dtype === 'f32' ? 0x7f800000 : dtype === 'bf16' ? 0x7f80 : 0x7c00;
        const ninf = dtype === 'f32' ? 0xff800000 : dtype === 'bf16' ? 0xff80 : 0xfc00;
        const put = (i: number, bits: number) => (es === 4 ? dv.setUint32(i * 4, bits, true) : dv.setUint16(i * 2, bits, true));
        put(0 * 40 + 3, nan);
        put(1 * 40 + 39, inf);
        put(2 * 40 + 5, ninf);
        put(2 * 40 + 21, inf);
        const x = randomVector(80, 3).map((v) => Math.abs(v) + 0.5);
        x[40 + 17] = Number.POSITIVE_INFINITY; // token 1: every row sees +Inf at column 17
        const got = new Float32Array(8);
        const want = new Float32Array(8);
        k.matmul(got, w, x, 2);
        oracle.matmul(want, w, x, 2);
        assertSameBits(got, want, `${dtype} NaN/Inf`);
        assert.ok(Number.isNaN(got[0] as number));
        assert.ok((got[1] as number) > 0 && !Number.isFinite(got[1] as number));
        assert.ok(Number.isNaN(got[2] as number));
        assert.ok(Number.isFinite(got[3] as number));
        assert.ok(Number.isNaN(got[4] as number));
      }
      const wi = randomMatrix('int8', 2, 20, 4);
      const xi = randomVector(20, 1);
      xi[7] = Number.NaN;
      const oi = new Float32Array(2);
      k.matmul(oi, wi, xi, 1);
      assert.ok(Number.isNaN(oi[0] as number) && Number.isNaN(oi[1] as number));
    });

    it('swiglu equals the oracle on ordinary and extreme values', () => {
      const n = 1000 + 13;
      const g = randomVector(n, 21).map((v) => v * 10);
      const u = randomVector(n, 22);
      const specials = [0, -0, 1e-40, -1e-40, 88, 88.1, -87, -87.5, 89, -89, 100, -100, 3e38, -3e38, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN];
      specials.forEach((v, i) => {
        g[i * 7] = v;
      });
      const want = new Float32Array(n);
      const got = new Float32Array(n);
      oracle.swiglu(want, g, u, n);
      k.swiglu(got, g, u, n);
      assertSameBits(got, want, 'swiglu');
      const inPlace = g.slice();
      k.swiglu(inPlace, inPlace, u, n);
      assertSameBits(inPlace, want, 'swiglu in place');
    });

    it('expertFfn equals the oracle, with and without routing weights, odd sizes', () => {
      const cases: [WeightDType, number, number][] = [
        ['bf16', 48, 160],
        ['f32', 17, 33],
        ['f16', 64, 129],
        ['int8', 40, 72],
        ['bf16', 256, 700],
      ];
      let seed = 300;
      for (const [dtype, H, I] of cases) {
        const wg = randomMatrix(dtype, I, H, seed++);
        const wu = randomMatrix(dtype, I, H, seed++);
        const wd = randomMatrix(dtype, H, I, seed++);
        for (const tokens of [1, 2, 5]) {
          const x = randomVector(tokens * H, seed++);
          const base = randomVector(tokens * H, seed++);
          const scale = Array.from({ length: tokens }, (_, t) => 0.25 + t * 0.1);
          for (const s of [undefined, scale, Float32Array.from(scale)]) {
            const want = base.slice();
            const got = base.slice();
            oracle.expertFfn(want, wg, wu, wd, x, tokens, s);
            k.expertFfn(got, wg, wu, wd, x, tokens, s);
            assertSameBits(got, want, `expertFfn ${dtype} H=${H} I=${I} tokens=${tokens} scale=${s === undefined ? 'none' : 'set'}`);
          }
        }
      }
    });

    it('expertFfn with mixed dtypes (bf16 gate, f32 up, int8 down; f16 gate, bf16 up and down)', () => {
      for (const [dg, du, dd] of [
        ['bf16', 'f32', 'int8'],
        ['f16', 'bf16', 'bf16'],
      ] as const) {
        const wg = randomMatrix(dg, 96, 64, 1);
        const wu = randomMatrix(du, 96, 64, 2);
        const wd = randomMatrix(dd, 64, 96, 3);
        for (const tokens of [1, 3]) {
          const x = randomVector(64 * tokens, 4);
          const want = new Float32Array(64 * tokens);
          const got = new Float32Array(64 * tokens);
          oracle.expertFfn(want, wg, wu, wd, x, tokens, [0.5, 2, 0.25]);
          k.expertFfn(got, wg, wu, wd, x, tokens, [0.5, 2, 0.25]);
          assertSameBits(got, want, `expertFfn ${dg}/${du}/${dd} tokens=${tokens}`);
        }
      }
    });

    it('expertFfn equals matmul → swiglu → matmul → weighted add', () => {
      const H = 130;
      const I = 270;
      const wg = randomMatrix('bf16', I, H, 1);
      const wu = randomMatrix('bf16', I, H, 2);
      const wd = randomMatrix('bf16', H, I, 3);
      const tokens = 3;
      const x = randomVector(tokens * H, 4);
      const g = new Float32Array(tokens * I);
      const u = new Float32Array(tokens * I);
      const y = new Float32Array(tokens * H);
      k.matmulMany([g, u], [wg, wu], x, tokens);
      k.swiglu(g, g, u, tokens * I);
      k.matmul(y, wd, g, tokens);
      const want = new Float32Array(tokens * H).fill(0.5);
      for (let t = 0; t < tokens; t++) for (let r = 0; r < H; r++) want[t * H + r] = Math.fround(0.5 + Math.fround(Math.fround(0.3) * (y[t * H + r] as number)));
      const got = new Float32Array(tokens * H).fill(0.5);
      k.expertFfn(got, wg, wu, wd, x, tokens, [0.3, 0.3, 0.3]);
      assertSameBits(got, want, 'fused vs composed');
    });

    it('handles tokens = 0 and rows = 0 without touching anything', () => {
      const out = new Float32Array(4).fill(3);
      k.matmul(out, randomMatrix('bf16', 4, 8, 1), new Float32Array(0), 0);
      k.matmul(out, { dtype: 'f32', rows: 0, cols: 8, data: new Uint8Array(0) }, new Float32Array(8), 1);
      assert.deepEqual([...out], [3, 3, 3, 3]);
      const z = new Float32Array(2);
      k.matmul(z, { dtype: 'bf16', rows: 2, cols: 0, data: new Uint8Array(0) }, new Float32Array(0), 1);
      assert.deepEqual([...z], [0, 0]);
    });
  });
}

describe('the canonical arithmetic is frozen', () => {
  // The bits of every kernel output are part of what nodes must agree on (DESIGN.md §5: validation
  // losses must match byte for byte). Changing the lane count, the fold or the exp polynomial changes
  // these digests: that is a consensus change, not a refactor.
  it('matmul, swiglu and expertFfn outputs have fixed SHA-256 digests', async () => {
    const { createHash } = await import('node:crypto');
    const digest = (a: Float32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16);
    const parts: string[] = [];
    for (const dtype of DTYPES) {
      const w = randomMatrix(dtype, 37, 203, 1000 + dtype.length);
      const x = randomVector(203 * 3, 1001);
      const out = new Float32Array(37 * 3);
      oracle.matmul(out, w, x, 3);
      parts.push(`${dtype}:${digest(out)}`);
    }
    const g = randomVector(500, 7).map((v) => v * 12);
    const sw = new Float32Array(500);
    oracle.swiglu(sw, g, randomVector(500, 8), 500);
    parts.push(`swiglu:${digest(sw)}`);
    const ffn = new Float32Array(48 * 2);
    oracle.expertFfn(ffn, randomMatrix('bf16', 80, 48, 9), randomMatrix('bf16', 80, 48, 10), randomMatrix('bf16', 48, 80, 11), randomVector(96, 12), 2, [0.75, 0.25]);
    parts.push(`ffn:${digest(ffn)}`);
    assert.deepEqual(parts, FROZEN);
  });
});

describe('wasm weight cache', () => {
  it('evicts least recently used copies within its budget and stays exact', async (t) => {
    const k = await WasmKernels.create({ threads: 2, cacheBytes: 3 * 256 * 512 * 2 + 1024 });
    if (k === null) return t.skip(`wasm kernels not built: ${wasmLoadError()}`);
    try {
      const ws = [1, 2, 3, 4, 5].map((s) => randomMatrix('bf16', 256, 512, s));
      const x = randomVector(512, 1);
      for (let round = 0; round < 3; round++) {
        for (const w of ws) {
          const got = new Float32Array(256);
          const want = new Float32Array(256);
          k.matmul(got, w, x, 1);
          oracle.matmul(want, w, x, 1);
          assertSameBits(got, want, `round ${round}`);
        }
      }
      assert.ok(k.cache.cachedBytes <= 3 * 256 * 512 * 2 + 1024);
      assert.ok(k.cache.misses > 5, 'five matrices cycled through a cache that holds three must miss');
      const tooBig = randomMatrix('bf16', 1024, 1024, 9);
      assert.throws(() => k.matmul(new Float32Array(1024), tooBig, randomVector(1024, 2), 1), (e) => isBlyanError(e, 'ENGINE_BAD_INPUT'));
    } finally {
      await k.close();
    }
  });

  it('never serves a transient (scratch) matrix from the cache', async (t) => {
    const k = await WasmKernels.create({ threads: 2 });
    if (k === null) return t.skip(`wasm kernels not built: ${wasmLoadError()}`);
    try {
      const scratch = new Float32Array(64 * 96);
      const w: WeightMatrix = { dtype: 'f32', rows: 64, cols: 96, data: new Uint8Array(scratch.buffer), transient: true };
      const x = randomVector(96 * 3, 4);
      for (let round = 0; round < 3; round++) {
        scratch.set(randomVector(64 * 96, 10 + round));
        const got = new Float32Array(64 * 3);
        const want = new Float32Array(64 * 3);
        k.matmul(got, w, x, 3);
        oracle.matmul(want, w, x, 3);
        assertSameBits(got, want, `round ${round}`);
        assert.equal(k.cache.cachedBytes, 0, 'a transient matrix is dropped after its call');
      }
    } finally {
      await k.close();
    }
  });
});

describe('life cycle', () => {
  it('close() is idempotent and a closed instance refuses work', async () => {
    const ks: Kernels[] = [new JsKernels()];
    const n = NativeKernels.create({ threads: 2 });
    if (n !== null) ks.push(n);
    const w = await WasmKernels.create({ threads: 2 });
    if (w !== null) ks.push(w);
    for (const k of ks) {
      await k.close();
      await k.close();
      if (k.name !== 'js') assert.throws(() => k.matmul(new Float32Array(4), randomMatrix('bf16', 4, 8, 1), new Float32Array(8), 1));
    }
  });

  it('threads are capped at the number of cores', async () => {
    const { availableParallelism } = await import('node:os');
    const k = await loadKernels({ threads: 64 });
    assert.equal(k.threads, Math.min(64, availableParallelism()));
    await k.close();
  });
});

describe('thread-count independence', () => {
  it('native and wasm with 1 and 2 threads give identical bits on decode and prefill shapes', async () => {
    const ks: Kernels[] = [];
    for (const isa of nativeIsas()) for (const threads of [1, 2]) ks.push(NativeKernels.create({ threads, isa }) as NativeKernels);
    for (const threads of [1, 2]) {
      const w = await WasmKernels.create({ threads });
      if (w !== null) ks.push(w);
    }
    try {
      const w = randomMatrix('bf16', 1024, 1024, 77);
      const wg = randomMatrix('bf16', 512, 256, 78);
      const wu = randomMatrix('bf16', 512, 256, 79);
      const wd = randomMatrix('bf16', 256, 512, 80);
      for (const tokens of [1, 7]) {
        const x = randomVector(1024 * tokens, 5);
        const xf = randomVector(256 * tokens, 6);
        const outs = ks.map((k) => {
          const o = new Float32Array(1024 * tokens);
          k.matmul(o, w, x, tokens);
          const f = new Float32Array(256 * tokens);
          k.expertFfn(f, wg, wu, wd, xf, tokens, Array.from({ length: tokens }, () => 0.7));
          return [o, f] as const;
        });
        const [o0, f0] = outs[0] as readonly [Float32Array, Float32Array];
        for (const [i, [o, f]] of outs.entries()) {
          assertSameBits(o, o0, `${ks[i]?.name}/${ks[i]?.isa}/${ks[i]?.threads}t matmul tokens=${tokens}`);
          assertSameBits(f, f0, `${ks[i]?.name}/${ks[i]?.isa}/${ks[i]?.threads}t expertFfn tokens=${tokens}`);
        }
      }
    } finally {
      for (const k of ks) await k.close();
    }
  });

  it('stay identical while another process competes for the cores (rows stolen, offers withdrawn)', async () => {
    const { spawn } = await import('node:child_process');
    const hog = spawn(process.execPath, ['-e', 'const end = Date.now() + 4000; while (Date.now() < end) {}'], { stdio: 'ignore' });
    const ks: Kernels[] = [];
    const n = NativeKernels.create({ threads: 2 });
    if (n !== null) ks.push(n);
    const w = await WasmKernels.create({ threads: 2 });
    if (w !== null) ks.push(w);
    try {
      const m = randomMatrix('bf16', 2048, 512, 90);
      const wg = randomMatrix('bf16', 1024, 256, 91);
      const wu = randomMatrix('bf16', 1024, 256, 92);
      const wd = randomMatrix('bf16', 256, 1024, 93);
      const x = randomVector(512, 94);
      const xf = randomVector(256, 95);
      const want = new Float32Array(2048);
      oracle.matmul(want, m, x, 1);
      const wantF = new Float32Array(256);
      oracle.expertFfn(wantF, wg, wu, wd, xf, 1, [0.3]);
      for (const k of ks) {
        for (let i = 0; i < 200; i++) {
          const got = new Float32Array(2048);
          k.matmul(got, m, x, 1);
          assertSameBits(got, want, `${k.name} matmul under load, call ${i}`);
          const f = new Float32Array(256);
          k.expertFfn(f, wg, wu, wd, xf, 1, [0.3]);
          assertSameBits(f, wantF, `${k.name} expertFfn under load, call ${i}`);
        }
      }
    } finally {
      hog.kill();
      for (const k of ks) await k.close();
    }
  });
});
