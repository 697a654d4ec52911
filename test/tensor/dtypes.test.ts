/**
 * dtype conversions, checked exhaustively on all 65,536 bf16 and f16 patterns and against an independent
 * reference: exact rational arithmetic on BigInts (every finite f32, bf16 and f16 value is an integer
 * multiple of 2^-149), nearest candidate by exact distance, ties to the even pattern. It shares no code or
 * bit tricks with src/tensor/dtypes.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  bf16ArrayToF32,
  bf16BitsToF32Bits,
  bf16ToF32,
  dtypeBytes,
  f16ArrayToF32,
  f16BitsToF32Bits,
  f16ToF32,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  f32ToBf16,
  f32ToF16,
  fromSafetensorsDType,
  parseDType,
  toSafetensorsDType,
} from '../../src/tensor/dtypes.ts';
import { isBlyanError } from '../../src/errors.ts';

// ---- reference ----

interface Format {
  expBits: number;
  mantBits: number;
}
const BF16: Format = { expBits: 8, mantBits: 7 };
const F16: Format = { expBits: 5, mantBits: 10 };
const F32: Format = { expBits: 8, mantBits: 23 };

/** |value| · 2^149 of a non-negative pattern (sign bit clear). The all-ones exponent with mantissa 0 (inf)
 * comes out as 2^(emax+1): the value IEEE rounding treats it as when deciding overflow. */
function scaledMagnitude(p: number, f: Format): bigint {
  const bias = (1 << (f.expBits - 1)) - 1;
  const exp = Math.floor(p / 2 ** f.mantBits);
  const mant = p % 2 ** f.mantBits;
  if (exp === 0) return BigInt(mant) << BigInt(1 - bias - f.mantBits + 149);
  return (BigInt(2 ** f.mantBits + mant)) << BigInt(exp - bias - f.mantBits + 149);
}

function f32BitsOf(x: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x);
  return dv.getUint32(0);
}

/** Round a finite or infinite (not NaN) f32 pattern to format `f`, ties to even; returns the pattern. */
function referenceRound(bits: number, f: Format): number {
  const signBit = 2 ** (f.expBits + f.mantBits);
  const inf = (2 ** f.expBits - 1) * 2 ** f.mantBits;
  const negative = bits >>> 31 === 1;
  const absBits = bits & 0x7fffffff;
  if (absBits === 0x7f800000) return (negative ? signBit : 0) + inf;
  const x = scaledMagnitude(absBits, F32);
  if (x >= scaledMagnitude(inf, f)) return (negative ? signBit : 0) + inf;
  // Largest pattern p with value(p) ≤ x; patterns of non-negative values are ordered like their values.
  let lo = 0;
  let hi = inf; // value(hi) > x
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (scaledMagnitude(mid, f) <= x) lo = mid;
    else hi = mid;
  }
  const dLo = x - scaledMagnitude(lo, f);
  const dHi = scaledMagnitude(lo + 1, f) - x;
  const p = dLo < dHi ? lo : dHi < dLo ? lo + 1 : lo % 2 === 0 ? lo : lo + 1;
  return (negative ? signBit : 0) + p;
}

const isNaN32 = (b: number) => (b & 0x7fffffff) > 0x7f800000;
const isNaN16 = (h: number, f: Format) => (h & (2 ** (f.expBits + f.mantBits) - 1)) > (2 ** f.expBits - 1) * 2 ** f.mantBits;

// ---- names and sizes ----

test('dtype names, sizes and safetensors mapping', () => {
  assert.deepEqual(['f32', 'bf16', 'f16', 'int8'].map((d) => dtypeBytes(parseDType(d))), [4, 2, 2, 1]);
  for (const d of ['f32', 'bf16', 'f16', 'int8'] as const) assert.equal(fromSafetensorsDType(toSafetensorsDType(d)), d);
  assert.deepEqual(['F32', 'BF16', 'F16', 'I8'].map((s) => fromSafetensorsDType(s)), ['f32', 'bf16', 'f16', 'int8']);
  for (const bad of ['F64', 'I64', 'U8', 'BOOL', 'F8_E4M3', 'f32', '', 7, null]) {
    assert.throws(
      () => fromSafetensorsDType(bad, 'w'),
      (e: unknown) => isBlyanError(e, 'TENSOR_BAD_DTYPE') && /supported: F32, BF16, F16, I8/.test(e.message) && e.data.tensor === 'w',
    );
  }
  for (const bad of ['F32', 'float32', 'int4', undefined]) assert.throws(() => parseDType(bad), (e: unknown) => isBlyanError(e, 'TENSOR_BAD_DTYPE'));
});

// ---- bf16 ----

test('bf16 → f32 → bf16 is the identity on all 65,536 patterns (NaNs included)', () => {
  for (let h = 0; h < 65536; h++) {
    const w = bf16BitsToF32Bits(h);
    assert.equal(w >>> 16, h);
    assert.equal(w & 0xffff, 0);
    assert.equal(f32BitsToBf16Bits(w), h, `pattern 0x${h.toString(16)}`);
    // The widened value is exactly the bf16's value (reference decoding of the bf16 pattern).
    if (!isNaN16(h, BF16) && (h & 0x7fff) !== 0x7f80) {
      assert.equal(scaledMagnitude(w & 0x7fffffff, F32), scaledMagnitude(h & 0x7fff, BF16));
    }
  }
});

test('f32 → bf16 matches the exact reference for every bf16 neighbourhood (ties, ±1 ulp, both signs)', () => {
  const lows = [0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff];
  for (let h = 0; h < 65536; h++) {
    if (isNaN16(h, BF16) || (h & 0x7fff) === 0x7f80) continue; // NaN and inf have their own test
    for (const low of lows) {
      const bits = ((h << 16) | low) >>> 0;
      if (isNaN32(bits)) continue;
      const got = f32BitsToBf16Bits(bits);
      const want = referenceRound(bits, BF16);
      if (got !== want) assert.fail(`f32 0x${bits.toString(16)}: got 0x${got.toString(16)}, reference 0x${want.toString(16)}`);
    }
  }
});

test('f32 → bf16 matches the reference on random f32 patterns', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), (bits) => {
      if (isNaN32(bits)) return;
      assert.equal(f32BitsToBf16Bits(bits), referenceRound(bits, BF16));
    }),
    { numRuns: 20_000 },
  );
});

test('f32 → bf16 edge cases: overflow, infinities, zeros, NaN payloads', () => {
  assert.equal(f32BitsToBf16Bits(0x7f7fffff), 0x7f80, 'max f32 rounds to +inf');
  assert.equal(f32BitsToBf16Bits(0x7f7f7fff), 0x7f7f, 'just below the midpoint stays finite');
  assert.equal(f32BitsToBf16Bits(0x7f7f8000), 0x7f80, 'the midpoint to 2^128 is a tie, to even = inf');
  assert.equal(f32BitsToBf16Bits(0xff800000), 0xff80);
  assert.equal(f32BitsToBf16Bits(0x80000000), 0x8000, '-0 stays -0');
  assert.equal(f32BitsToBf16Bits(0x00008000), 0x0000, 'tie at the smallest subnormal goes to even zero');
  assert.equal(f32BitsToBf16Bits(0x00018000), 0x0002, 'tie between 1 and 2 goes to 2');
  assert.equal(f32BitsToBf16Bits(0x7fc00000), 0x7fc0, 'the canonical quiet NaN');
  assert.equal(f32BitsToBf16Bits(0xffc00001), 0xffc0, 'sign and top payload bits kept, no rounding into the exponent');
  assert.equal(f32BitsToBf16Bits(0x7f800001), 0x7fc0, 'a NaN whose payload lives in the low half stays a NaN');
  assert.equal(f32BitsToBf16Bits(0x7fffffff), 0x7fff, 'all-ones NaN does not carry into the sign');
  assert.equal(f32ToBf16(1), 0x3f80);
  assert.equal(bf16ToF32(0x3f80), 1);
  assert.equal(bf16ToF32(0xc040), -3);
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(Number.NaN))));
});

test('bf16 array conversions agree with the scalar ones, bit for bit', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const wide = bf16ArrayToF32(all);
  const wideBits = new Uint32Array(wide.buffer);
  for (let h = 0; h < 65536; h++) assert.equal(wideBits[h], bf16BitsToF32Bits(h));
  assert.deepEqual(f32ArrayToBf16(wide), all);
  const random = new Uint32Array(4096).map((_, i) => Math.imul(i + 1, 0x9e3779b1) >>> 0);
  const narrowed = f32ArrayToBf16(new Float32Array(random.buffer));
  random.forEach((b, i) => {
    assert.equal(narrowed[i], f32BitsToBf16Bits(b));
  });
});

// ---- f16 ----

test('f16 → f32 is exact and f16 → f32 → f16 is the identity on all 65,536 patterns', () => {
  for (let h = 0; h < 65536; h++) {
    const w = f16BitsToF32Bits(h);
    assert.equal(w >>> 31, h >>> 15, 'sign');
    if (isNaN16(h, F16)) assert.ok(isNaN32(w), `0x${h.toString(16)} widens to a NaN`);
    else if ((h & 0x7fff) === 0x7c00) assert.equal(w & 0x7fffffff, 0x7f800000);
    else assert.equal(scaledMagnitude(w & 0x7fffffff, F32), scaledMagnitude(h & 0x7fff, F16), `value of 0x${h.toString(16)}`);
    assert.equal(f32BitsToF16Bits(w), h, `round trip of 0x${h.toString(16)}`);
  }
  assert.equal(f16ToF32(0x0001), 2 ** -24, 'smallest subnormal');
  assert.equal(f16ToF32(0x03ff), 1023 * 2 ** -24, 'largest subnormal');
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0xfc00), Number.NEGATIVE_INFINITY);
});

test('f32 → f16 rounds every midpoint between neighbours to even, and ±1 f32 ulp to the nearer', () => {
  for (let h = 0; h < 0x7c00; h++) {
    // The midpoint of h and h+1 has 12 significant bits: exact in f32. Both signs.
    const a = scaledMagnitude(h, F16);
    const b = scaledMagnitude(h + 1, F16);
    const mid = Number(a + b) / 2 / 2 ** 149;
    const midBits = f32BitsOf(mid);
    assert.equal(scaledMagnitude(midBits, F32) * 2n, a + b, 'midpoint is exact');
    const even = h % 2 === 0 ? h : h + 1;
    assert.equal(f32BitsToF16Bits(midBits), even, `midpoint after 0x${h.toString(16)}`);
    assert.equal(f32BitsToF16Bits((midBits | 0x80000000) >>> 0), even | 0x8000);
    assert.equal(f32BitsToF16Bits(midBits - 1), h, 'just below the midpoint');
    assert.equal(f32BitsToF16Bits(midBits + 1), h + 1, 'just above the midpoint');
  }
});

test('f32 → f16 matches the exact reference on random f32s (uniform bits, and focused on the f16 range)', () => {
  const inRange = fc.tuple(fc.integer({ min: 95, max: 145 }), fc.integer({ min: 0, max: 0x7fffff }), fc.boolean()).map(([e, m, s]) => ((s ? 0x80000000 : 0) | (e << 23) | m) >>> 0);
  fc.assert(
    fc.property(fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), inRange), (bits) => {
      if (isNaN32(bits)) return;
      assert.equal(f32BitsToF16Bits(bits), referenceRound(bits, F16));
    }),
    { numRuns: 30_000 },
  );
});

test('f32 → f16 edge cases', () => {
  assert.equal(f32ToF16(65504), 0x7bff);
  assert.equal(f32ToF16(65519.996), 0x7bff, 'below the overflow threshold');
  assert.equal(f32ToF16(65520), 0x7c00, '65520 is the tie to infinity');
  assert.equal(f32ToF16(1e10), 0x7c00);
  assert.equal(f32ToF16(-1e10), 0xfc00);
  assert.equal(f32ToF16(2 ** -25), 0x0000, 'half the smallest subnormal: tie to even zero');
  assert.equal(f32ToF16(Math.fround(2 ** -25 * 1.0000001)), 0x0001);
  assert.equal(f32ToF16(3 * 2 ** -25), 0x0002, 'tie between subnormals 1 and 2 goes to 2');
  assert.equal(f32ToF16(-0), 0x8000);
  assert.equal(f32BitsToF16Bits(0x7f800001), 0x7e00, 'payload below the kept bits: quiet bit set');
  assert.equal(f32BitsToF16Bits(0xffc02000), 0xfe01, 'sign and top payload bits kept');
  assert.equal(f32ToF16(1), 0x3c00);
  assert.equal(f16ToF32(0x3555), Math.fround(0.333251953125));
});

test('f16 array conversions agree with the scalar ones, bit for bit', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const wide = f16ArrayToF32(all);
  const wideBits = new Uint32Array(wide.buffer);
  for (let h = 0; h < 65536; h++) assert.equal(wideBits[h], f16BitsToF32Bits(h));
  assert.deepEqual(f32ArrayToF16(wide), all);
});
