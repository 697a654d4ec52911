/**
 * The canonical f32 arithmetic of the kernels, written with Math.fround after every operation. A JS
 * double holds the exact product of two f32 values (48 ≤ 53 bits), and rounding an exact double
 * sum, product or quotient of two f32 values to f32 is correctly rounded (53 ≥ 2·24 + 2), so these
 * functions give exactly the bits of IEEE single-precision hardware doing the same steps. The native
 * and wasm kernels perform the same steps with SIMD; docs/kernels.md states them.
 */

const fr = Math.fround;
const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/** Number of lane sums of dot(): lane l adds the columns c ≡ l (mod LANES). */
export const LANES = 32;

/**
 * Folds the 32 lane sums of dot() in place by halving: a[l] += a[l+16] for l < 16, then a[l] += a[l+8]
 * for l < 8, then +4, +2, +1; returns a[0].
 */
export function fold32(a: Float64Array): number {
  for (let half = 16; half >= 1; half >>= 1) for (let l = 0; l < half; l++) a[l] = fr((a[l] as number) + (a[l + half] as number));
  return a[0] as number;
}

export const EXP_HI = 88;
export const EXP_LO = -87;
export const LOG2E = fr(Math.LOG2E);
export const MAGIC = 12582912; // 1.5 · 2^23: (v + MAGIC) - MAGIC rounds v to an integer, ties to even
export const LN2_HI = 0.693359375;
export const LN2_LO = fr(-2.12194440e-4);
export const EXP_P = [fr(1.9875691500e-4), fr(1.3981999507e-3), fr(8.3334519073e-3), fr(4.1665795894e-2), fr(1.6666665459e-1), fr(5.0000001201e-1)] as const;

/**
 * exp in f32 (Cephes expf without fused operations): clamp to [-87, 88], n = round(x·log2e),
 * r = x − n·ln2hi − n·ln2lo, p = ((((P0·r + P1)·r + P2)·r + P3)·r + P4)·r + P5, p = p·r² + r + 1, times 2^n;
 * +Infinity above 88. Relative error ≲ 2 ulp.
 */
export function exp32(x: number): number {
  // Math.min/max pass NaN through like the compare-and-select of the SIMD code (SIMD min/max would not).
  const xc = Math.max(Math.min(x, EXP_HI), EXP_LO);
  const fx = fr(xc * LOG2E);
  const t = fr(fx + MAGIC);
  const n = fr(t - MAGIC);
  f32[0] = t;
  const ni = (i32[0] as number) - 0x4b400000;
  let r = fr(xc - fr(n * LN2_HI));
  r = fr(r - fr(n * LN2_LO));
  let y: number = EXP_P[0];
  y = fr(fr(y * r) + EXP_P[1]);
  y = fr(fr(y * r) + EXP_P[2]);
  y = fr(fr(y * r) + EXP_P[3]);
  y = fr(fr(y * r) + EXP_P[4]);
  y = fr(fr(y * r) + EXP_P[5]);
  y = fr(fr(y * fr(r * r)) + r);
  y = fr(y + 1);
  i32[0] = (ni + 127) << 23;
  const e = fr(y * (f32[0] as number));
  return x > EXP_HI ? Number.POSITIVE_INFINITY : e;
}

/** silu(g) = g / (1 + exp32(-g)), in f32. */
export function silu32(g: number): number {
  return fr(g / fr(1 + exp32(-g)));
}

/** silu(g) · u, in f32. */
export function swiglu32(g: number, u: number): number {
  return fr(silu32(g) * u);
}

export const SQRTHF = fr(Math.SQRT1_2);
export const LOG_P = [
  fr(7.0376836292e-2),
  fr(-1.1514610310e-1),
  fr(1.1676998740e-1),
  fr(-1.2420140846e-1),
  fr(1.4249322787e-1),
  fr(-1.6668057665e-1),
  fr(2.0000714765e-1),
  fr(-2.4999993993e-1),
  fr(3.3333331174e-1),
] as const;

/**
 * Natural log in f32 (Cephes logf without fused operations), for consensus (validation loss, PoL):
 * x = m · 2^e with m in [0.5, 1) from the bits (subnormals scaled by 2^23 first); if m < √½ then e −= 1 and
 * f = 2m − 1, else f = m − 1; z = f²; y = (((((((P0·f + P1)·f + P2)·f + P3)·f + P4)·f + P5)·f + P6)·f + P7)·f + P8;
 * y = y·f·z; y += e·ln2lo; y += −0.5·z; r = f + y; r += e·ln2hi. Every step rounded to f32.
 * log32(0) = −∞, log32(x < 0) = NaN, log32(+∞) = +∞, NaN → NaN. Within 2 ulp of the true log.
 */
export function log32(x: number): number {
  const v = fr(x);
  if (Number.isNaN(v) || v < 0) return Number.NaN;
  if (v === 0) return Number.NEGATIVE_INFINITY;
  if (v === Number.POSITIVE_INFINITY) return v;
  f32[0] = v;
  let bits = i32[0] as number;
  let e = 0;
  if ((bits >>> 23) === 0) {
    // subnormal: scale into the normal range exactly
    f32[0] = fr(v * 8388608);
    bits = i32[0] as number;
    e = -23;
  }
  e += ((bits >>> 23) & 0xff) - 126;
  i32[0] = (bits & 0x7fffff) | (126 << 23);
  let m = f32[0] as number; // in [0.5, 1)
  if (m < SQRTHF) {
    e -= 1;
    m = fr(fr(m + m) - 1);
  } else {
    m = fr(m - 1);
  }
  const z = fr(m * m);
  let y: number = LOG_P[0];
  for (let i = 1; i < LOG_P.length; i++) y = fr(fr(y * m) + (LOG_P[i] as number));
  y = fr(fr(y * m) * z);
  const fe = e; // |e| ≤ 149: exact in f32
  y = fr(y + fr(fe * LN2_LO));
  y = fr(y - fr(0.5 * z));
  let r = fr(m + y);
  r = fr(r + fr(fe * LN2_HI));
  return r;
}
