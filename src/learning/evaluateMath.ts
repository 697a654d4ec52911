/**
 * Canonical transcendental functions for consensus code that cannot use Math.sin/cos/pow/exp/log: those are
 * implementation-defined in ECMAScript (engines may change them). These use only +, −, ×, ÷ on doubles in a
 * fixed order, which IEEE 754 and ECMAScript define exactly, so every node gets the same bits. Accuracy is a
 * few ulp of a double, far below the f32 rounding the callers apply.
 */

const LN2 = Math.LN2; // a constant, not a library call: the double nearest ln 2
const SQRT2 = Math.SQRT2;
// π/2 split in two (fdlibm's PIO2_1, PIO2_1T): n·PIO2_1 is exact for |n| < 2^20.
const PIO2_1 = 1.5707963267341256;
const PIO2_1T = 6.077100506506192e-11;
const INV_PIO2 = 0.6366197723675814;

/** Splits x > 0 (finite, normal) into m·2^k with m in [√½, √2), by exact scaling. */
function split(x: number): { m: number; k: number } {
  let m = x;
  let k = 0;
  while (m >= 2) {
    m /= 2;
    k++;
  }
  while (m < 1) {
    m *= 2;
    k--;
  }
  if (m > SQRT2) {
    m /= 2;
    k++;
  }
  return { m, k };
}

/** Natural log of a positive finite double: k·ln2 + 2·atanh((m−1)/(m+1)), 24 series terms. */
export function ln64(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) return Number.NaN;
  const { m, k } = split(x);
  const s = (m - 1) / (m + 1);
  const s2 = s * s;
  let term = s;
  let sum = 0;
  for (let n = 0; n < 24; n++) {
    sum += term / (2 * n + 1);
    term *= s2;
  }
  return k * LN2 + 2 * sum;
}

/** 2^k for an integer k in the normal range, by exact doubling. */
function pow2(k: number): number {
  let r = 1;
  if (k >= 0) for (let i = 0; i < k; i++) r *= 2;
  else for (let i = 0; i > k; i--) r /= 2;
  return r;
}

/** e^y for |y| < 700: y = n·ln2 + r, |r| ≤ ln2/2, Taylor series of e^r to 28 terms, times 2^n. */
export function exp64(y: number): number {
  if (!Number.isFinite(y) || Math.abs(y) >= 700) return Number.NaN;
  const n = Math.round(y / LN2);
  const r = y - n * LN2;
  let term = 1;
  let sum = 1;
  for (let i = 1; i < 28; i++) {
    term = (term * r) / i;
    sum += term;
  }
  return sum * pow2(n);
}

/** base^e for base > 0: exp64(e · ln64(base)). */
export function pow64(base: number, e: number): number {
  return exp64(e * ln64(base));
}

function sinSeries(r: number): number {
  const r2 = r * r;
  let term = r;
  let sum = r;
  for (let i = 1; i < 14; i++) {
    term = (-term * r2) / ((2 * i) * (2 * i + 1));
    sum += term;
  }
  return sum;
}

function cosSeries(r: number): number {
  const r2 = r * r;
  let term = 1;
  let sum = 1;
  for (let i = 1; i < 14; i++) {
    term = (-term * r2) / ((2 * i - 1) * (2 * i));
    sum += term;
  }
  return sum;
}

/** cos and sin of |a| < 2^19: a = n·π/2 + r (two-constant reduction), |r| ≤ π/4, series, quadrant n mod 4. */
export function cosSin64(a: number): { cos: number; sin: number } {
  const n = Math.round(a * INV_PIO2);
  const r = a - n * PIO2_1 - n * PIO2_1T;
  const c = cosSeries(r);
  const s = sinSeries(r);
  switch (((n % 4) + 4) % 4) {
    case 0:
      return { cos: c, sin: s };
    case 1:
      return { cos: -s, sin: c };
    case 2:
      return { cos: -c, sin: -s };
    default:
      return { cos: s, sin: -c };
  }
}
