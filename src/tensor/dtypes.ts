import { endianness } from 'node:os';
import { BlyanError } from '../errors.ts';

// Typed-array views read memory in host byte order, and every tensor byte in Blyan is little-endian.
// Every tensor module imports this one: refuse to run rather than compute garbage on a big-endian host.
if (endianness() !== 'LE') throw new Error('Blyan tensors require a little-endian host');

/**
 * Element types a tensor may hold. Every tensor byte in Blyan is little-endian; `int8` tensors carry one
 * f32 scale per row beside their data (tensor.ts).
 */
export type DType = 'f32' | 'bf16' | 'f16' | 'int8';

export const DTYPES: readonly DType[] = ['f32', 'bf16', 'f16', 'int8'];

const BYTES: Readonly<Record<DType, number>> = { f32: 4, bf16: 2, f16: 2, int8: 1 };

export function dtypeBytes(dtype: DType): number {
  return BYTES[dtype];
}

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.hasOwn(BYTES, value);
}

/** Strict: only the exact lowercase names above (`parseDType('F32')` fails; use fromSafetensorsDType for those). */
export function parseDType(value: unknown): DType {
  if (isDType(value)) return value;
  const got = typeof value === 'string' ? `"${value.slice(0, 40)}"` : `a value of type ${typeof value}`;
  throw new BlyanError('TENSOR_BAD_DTYPE', `unknown dtype ${got}; supported: ${DTYPES.join(', ')}`, { dtype: String(typeof value === 'string' ? value.slice(0, 40) : typeof value) });
}

// Safetensors names (the Rust enum `Dtype` in huggingface/safetensors). Only the four we compute with are
// accepted: a checkpoint holding anything else cannot be served, and saying so at import is kinder than later.
const TO_SAFETENSORS: Readonly<Record<DType, string>> = { f32: 'F32', bf16: 'BF16', f16: 'F16', int8: 'I8' };
const FROM_SAFETENSORS: ReadonlyMap<string, DType> = new Map(DTYPES.map((d) => [TO_SAFETENSORS[d], d]));

export function toSafetensorsDType(dtype: DType): string {
  return TO_SAFETENSORS[dtype];
}

export const SAFETENSORS_DTYPES: readonly string[] = DTYPES.map((d) => TO_SAFETENSORS[d]);

/** The DType for a safetensors dtype string, or undefined if we do not support it. */
export function lookupSafetensorsDType(value: unknown): DType | undefined {
  return typeof value === 'string' ? FROM_SAFETENSORS.get(value) : undefined;
}

export function fromSafetensorsDType(value: unknown, tensor?: string): DType {
  const d = lookupSafetensorsDType(value);
  if (d !== undefined) return d;
  const got = typeof value === 'string' ? `"${value.slice(0, 40)}"` : `a value of type ${typeof value}`;
  const where = tensor === undefined ? '' : `tensor "${tensor}": `;
  throw new BlyanError(
    'TENSOR_BAD_DTYPE',
    `${where}unsupported safetensors dtype ${got}; supported: ${SAFETENSORS_DTYPES.join(', ')}`,
    { dtype: typeof value === 'string' ? value.slice(0, 40) : typeof value, ...(tensor === undefined ? {} : { tensor }) },
  );
}

/**
 * Safetensors' serializer orders tensors by descending dtype rank (its enum order: I8 < F16 < BF16 < F32),
 * then by name; the writer needs the same rank to reproduce its files byte for byte.
 */
export function safetensorsDTypeRank(dtype: DType): number {
  return dtype === 'int8' ? 0 : dtype === 'f16' ? 1 : dtype === 'bf16' ? 2 : 3;
}

// ---- scalar conversions, on bit patterns ----
// Bit-level functions are the primary API: a JavaScript number may lose a NaN's payload when it passes
// through a Float32Array, so code that must preserve bits (NaN payloads, -0) works on u16/u32 patterns.

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

export function f32ToBits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0] as number;
}

export function bitsToF32(bits: number): number {
  scratchU32[0] = bits;
  return scratchF32[0] as number;
}

/** bf16 is the top half of an f32: widening is exact, a shift. */
export function bf16BitsToF32Bits(h: number): number {
  return (h << 16) >>> 0;
}

/**
 * f32 → bf16, round to nearest, ties to even (what PyTorch and the hardware do). Overflow goes to ±inf as
 * IEEE 754 says. A NaN stays a NaN with its sign and the top 7 payload bits; if those bits are all zero the
 * quiet bit is set so the result is not mistaken for infinity. (Consequently bf16 → f32 → bf16 is the
 * identity on all 65,536 patterns.)
 */
export function f32BitsToBf16Bits(bits: number): number {
  const b = bits >>> 0;
  if ((b & 0x7fffffff) > 0x7f800000) {
    const hi = b >>> 16;
    return (hi & 0x7f) === 0 ? hi | 0x40 : hi;
  }
  // Adding 0x7fff plus the lowest kept bit rounds ties to even; a carry into the exponent is correct
  // (it becomes the next binade, or infinity from the largest finite values).
  const lsb = (b >>> 16) & 1;
  return ((b + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** f16 → f32 bits: exact for every pattern (subnormals are normalised, inf/NaN keep sign and payload). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal: value = mant · 2^-24. Shift the leading 1 up to bit 10 and lower the exponent to match.
  let e = 113; // 127 - 15 + 1
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/**
 * f32 → f16, round to nearest, ties to even, with gradual underflow to subnormals and overflow to ±inf.
 * NaNs keep sign and the top 10 payload bits (quiet bit set if they were all zero), so f16 → f32 → f16 is
 * the identity on all 65,536 patterns.
 */
export function f32BitsToF16Bits(bits: number): number {
  const b = bits >>> 0;
  const sign = (b >>> 16) & 0x8000;
  const abs = b & 0x7fffffff;
  if (abs > 0x7f800000) {
    const payload = (abs >>> 13) & 0x3ff;
    return sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
  }
  if (abs >= 0x47800000) {
    // |x| ≥ 65536 (or inf): beyond the rounding boundary 65520, whatever the low bits say.
    return sign | 0x7c00;
  }
  const exp = abs >>> 23;
  if (exp >= 113) {
    // Normal range of f16 (2^-14 ≤ |x|): rebias and round off 13 bits; a carry may reach infinity, correctly.
    const lsb = (abs >>> 13) & 1;
    return sign | ((abs - (112 << 23) + 0xfff + lsb) >>> 13);
  }
  if (exp < 102) {
    // |x| < 2^-25, half the smallest subnormal: rounds to zero (exactly 2^-25 is a tie, to the even zero).
    return sign;
  }
  // Subnormal result: value / 2^-24 has the implicit-1 mantissa shifted right by (126 - exp) bits.
  const mant = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - exp; // 14 … 24
  const q = mant >>> shift;
  const rem = mant & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  const up = rem > half || (rem === half && (q & 1) === 1);
  return sign | (q + (up ? 1 : 0));
}

// Number-level conveniences. Exact for all non-NaN values; NaN payloads are not guaranteed to survive
// a JavaScript number (use the bit-level functions above when they matter).
export const bf16ToF32 = (h: number): number => bitsToF32(bf16BitsToF32Bits(h));
export const f32ToBf16 = (x: number): number => f32BitsToBf16Bits(f32ToBits(x));
export const f16ToF32 = (h: number): number => bitsToF32(f16BitsToF32Bits(h));
export const f32ToF16 = (x: number): number => f32BitsToF16Bits(f32ToBits(x));

// ---- array conversions (bit-exact; outputs are fresh arrays) ----

export function bf16ArrayToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const o = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) o[i] = (src[i] as number) << 16;
  return out;
}

export function f32ArrayToBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToBf16Bits(bits[i] as number);
  return out;
}

let f16Table: Uint32Array | undefined;
/** 256 KiB lookup table, built on first use: f16 widening becomes one load per element. */
function f16ToF32Table(): Uint32Array {
  if (f16Table === undefined) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

export function f16ArrayToF32(src: Uint16Array): Float32Array {
  const table = f16ToF32Table();
  const out = new Float32Array(src.length);
  const o = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) o[i] = table[src[i] as number] as number;
  return out;
}

export function f32ArrayToF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Bits(bits[i] as number);
  return out;
}
