/** Finite-difference helpers for the trainer's gradient checks (f32 ops, so central differences with a loose tolerance). */
import assert from 'node:assert/strict';
import { Rng } from '../../src/learning/rng.ts';

export function randn(n: number, rng: Rng, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** Σ r·y in f64: a scalar "loss" whose gradient w.r.t. y is r. */
export function dotLoss(y: Float32Array, r: Float32Array): number {
  let s = 0;
  for (let i = 0; i < r.length; i++) s += (y[i] as number) * (r[i] as number);
  return s;
}

/**
 * Compares the analytic gradient `grad` of `loss()` w.r.t. `x` at `samples` coordinates (all when fewer)
 * with central differences of step h. Passes when |num − ana| ≤ atol + rtol·max(|num|, |ana|).
 */
export function checkGrad(
  what: string,
  x: Float32Array,
  grad: Float32Array,
  loss: () => number,
  opts: { h?: number; atol?: number; rtol?: number; samples?: number; seed?: number } = {},
): void {
  const h = opts.h ?? 1e-2;
  const atol = opts.atol ?? 1e-3;
  const rtol = opts.rtol ?? 2e-2;
  const rng = new Rng(opts.seed ?? 7);
  const n = x.length;
  const idx = opts.samples === undefined || opts.samples >= n ? Array.from({ length: n }, (_, i) => i) : Array.from({ length: opts.samples }, () => rng.int(n));
  for (const i of idx) {
    const orig = x[i] as number;
    x[i] = orig + h;
    const up = loss();
    x[i] = orig - h;
    const down = loss();
    x[i] = orig;
    const num = (up - down) / (2 * h);
    const ana = grad[i] as number;
    const tol = atol + rtol * Math.max(Math.abs(num), Math.abs(ana));
    assert.ok(Math.abs(num - ana) <= tol, `${what}[${i}]: numeric ${num} vs analytic ${ana}`);
  }
}
