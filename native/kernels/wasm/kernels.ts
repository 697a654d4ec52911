// WebAssembly SIMD kernels (AssemblyScript, built by build.mjs into kernels.wasm). The same canonical
// arithmetic as the native paths (native/kernels/kernels.h, src/engine/kernels/types.ts): 32 lane sums
// per output, kept as eight v128 accumulators, separate multiply and add, the halving fold. bf16 rows are
// widened per 32-bit word (even column = word << 16, odd column = word & 0xffff0000), so bf16 reads x in
// the de-interleaved layout xd (deinterleave below). Memory is imported and shared with the worker
// threads; the host (src/engine/kernels/wasm.ts) owns every address.

const M_HI: u32 = 0xffff0000;

// ---- weights → f32x4 ----

@inline function f16x4(h: v128): v128 {
  // h: four u16 in i32 lanes. Exact: normals and subnormals by a 2^112 rescale, Inf/NaN by bits.
  const em = v128.and(h, i32x4.splat(0x7fff));
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const scaled = f32x4.mul(i32x4.shl(em, 13), f32x4.splat(5.192296858534828e33)); // 2^112
  const special = v128.or(i32x4.shl(em, 13), i32x4.splat(0x7f800000));
  const isSpecial = i32x4.gt_s(em, i32x4.splat(0x7bff));
  return v128.or(v128.bitselect(special, scaled, isSpecial), sign);
}

@inline function i8lo4(b: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(b)));
}
@inline function i8q1(b: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(i16x8.extend_low_i8x16_s(b)));
}
@inline function i8q2(b: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_high_i8x16_s(b)));
}
@inline function i8q3(b: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(i16x8.extend_high_i8x16_s(b)));
}

@inline function madd(acc: v128, w: v128, x: v128): v128 {
  return f32x4.add(acc, f32x4.mul(w, x));
}

// ---- dot products of one row (cols columns) with one x vector ----

@inline function foldNat(a0: v128, a1: v128, a2: v128, a3: v128, b0: v128, b1: v128, b2: v128, b3: v128): f32 {
  const s0 = f32x4.add(a0, b0);
  const s1 = f32x4.add(a1, b1);
  const s2 = f32x4.add(a2, b2);
  const s3 = f32x4.add(a3, b3);
  const q = f32x4.add(f32x4.add(s0, s2), f32x4.add(s1, s3));
  const r0: f32 = f32x4.extract_lane(q, 0) + f32x4.extract_lane(q, 2);
  const r1: f32 = f32x4.extract_lane(q, 1) + f32x4.extract_lane(q, 3);
  return r0 + r1;
}

@inline function foldEo(e0: v128, e1: v128, e2: v128, e3: v128, o0: v128, o1: v128, o2: v128, o3: v128): f32 {
  const e4 = f32x4.add(f32x4.add(e0, e2), f32x4.add(e1, e3));
  const o4 = f32x4.add(f32x4.add(o0, o2), f32x4.add(o1, o3));
  const e20: f32 = f32x4.extract_lane(e4, 0) + f32x4.extract_lane(e4, 2);
  const e21: f32 = f32x4.extract_lane(e4, 1) + f32x4.extract_lane(e4, 3);
  const o20: f32 = f32x4.extract_lane(o4, 0) + f32x4.extract_lane(o4, 2);
  const o21: f32 = f32x4.extract_lane(o4, 1) + f32x4.extract_lane(o4, 3);
  const se: f32 = e20 + e21;
  const so: f32 = o20 + o21;
  return se + so;
}

// xd: de-interleaved, zero-padded to whole blocks. tmp: 64 scratch bytes of this thread.
function dotBf16(w: usize, xd: usize, cols: i32, tmp: usize): f32 {
  const z = f32x4.splat(0);
  let e0 = z, e1 = z, e2 = z, e3 = z, o0 = z, o1 = z, o2 = z, o3 = z;
  const m = i32x4.splat(M_HI);
  const nb = cols >> 5;
  const rem = cols & 31;
  for (let b = 0; b <= nb; b++) {
    let p = w + (<usize>b << 6);
    const xp = xd + (<usize>b << 7);
    if (b == nb) {
      if (rem == 0) break;
      memory.fill(tmp, 0, 64);
      memory.copy(tmp, p, <usize>rem << 1);
      p = tmp;
    }
    let u = v128.load(p);
    e0 = madd(e0, i32x4.shl(u, 16), v128.load(xp));
    o0 = madd(o0, v128.and(u, m), v128.load(xp, 64));
    u = v128.load(p, 16);
    e1 = madd(e1, i32x4.shl(u, 16), v128.load(xp, 16));
    o1 = madd(o1, v128.and(u, m), v128.load(xp, 80));
    u = v128.load(p, 32);
    e2 = madd(e2, i32x4.shl(u, 16), v128.load(xp, 32));
    o2 = madd(o2, v128.and(u, m), v128.load(xp, 96));
    u = v128.load(p, 48);
    e3 = madd(e3, i32x4.shl(u, 16), v128.load(xp, 48));
    o3 = madd(o3, v128.and(u, m), v128.load(xp, 112));
  }
  return foldEo(e0, e1, e2, e3, o0, o1, o2, o3);
}

// Natural layouts: block b = columns 32b..32b+31; a-lanes 0..15, b-lanes 16..31. The tail block is
// copied, zero-padded, to tmp (weights, 128 bytes) and tmp + 128 (x, 128 bytes).
function dotNat(dt: i32, w: usize, x: usize, cols: i32, tmp: usize): f32 {
  const z = f32x4.splat(0);
  let a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
  const es: usize = dt == 0 ? 4 : dt == 3 ? 1 : 2;
  const nb = cols >> 5;
  const rem = cols & 31;
  for (let b = 0; b <= nb; b++) {
    let p = w + <usize>b * 32 * es;
    let xp = x + (<usize>b << 7);
    if (b == nb) {
      if (rem == 0) break;
      memory.fill(tmp, 0, 256);
      memory.copy(tmp, p, <usize>rem * es);
      memory.copy(tmp + 128, xp, <usize>rem << 2);
      p = tmp;
      xp = tmp + 128;
    }
    if (dt == 0) {
      a0 = madd(a0, v128.load(p), v128.load(xp));
      a1 = madd(a1, v128.load(p, 16), v128.load(xp, 16));
      a2 = madd(a2, v128.load(p, 32), v128.load(xp, 32));
      a3 = madd(a3, v128.load(p, 48), v128.load(xp, 48));
      b0 = madd(b0, v128.load(p, 64), v128.load(xp, 64));
      b1 = madd(b1, v128.load(p, 80), v128.load(xp, 80));
      b2 = madd(b2, v128.load(p, 96), v128.load(xp, 96));
      b3 = madd(b3, v128.load(p, 112), v128.load(xp, 112));
    } else if (dt == 2) {
      let h = v128.load(p);
      a0 = madd(a0, f16x4(i32x4.extend_low_i16x8_u(h)), v128.load(xp));
      a1 = madd(a1, f16x4(i32x4.extend_high_i16x8_u(h)), v128.load(xp, 16));
      h = v128.load(p, 16);
      a2 = madd(a2, f16x4(i32x4.extend_low_i16x8_u(h)), v128.load(xp, 32));
      a3 = madd(a3, f16x4(i32x4.extend_high_i16x8_u(h)), v128.load(xp, 48));
      h = v128.load(p, 32);
      b0 = madd(b0, f16x4(i32x4.extend_low_i16x8_u(h)), v128.load(xp, 64));
      b1 = madd(b1, f16x4(i32x4.extend_high_i16x8_u(h)), v128.load(xp, 80));
      h = v128.load(p, 48);
      b2 = madd(b2, f16x4(i32x4.extend_low_i16x8_u(h)), v128.load(xp, 96));
      b3 = madd(b3, f16x4(i32x4.extend_high_i16x8_u(h)), v128.load(xp, 112));
    } else {
      let q = v128.load(p);
      a0 = madd(a0, i8lo4(q), v128.load(xp));
      a1 = madd(a1, i8q1(q), v128.load(xp, 16));
      a2 = madd(a2, i8q2(q), v128.load(xp, 32));
      a3 = madd(a3, i8q3(q), v128.load(xp, 48));
      q = v128.load(p, 16);
      b0 = madd(b0, i8lo4(q), v128.load(xp, 64));
      b1 = madd(b1, i8q1(q), v128.load(xp, 80));
      b2 = madd(b2, i8q2(q), v128.load(xp, 96));
      b3 = madd(b3, i8q3(q), v128.load(xp, 112));
    }
  }
  return foldNat(a0, a1, a2, a3, b0, b1, b2, b3);
}

@inline function pad32(n: i32): i32 {
  return (n + 31) & ~31;
}

/**
 * Rows [r0, r1) of a matrix (dtype 0 f32, 1 bf16, 2 f16, 3 int8) against `tokens` vectors:
 * out[t*ostride + r] = dot(row r, x[t]) (× scales[r] for int8). bf16 reads xd (stride pad32(cols)).
 */
export function rows(
  dt: i32, w: usize, cols: i32, scales: usize, x: usize, xd: usize, tokens: i32,
  r0: i32, r1: i32, out: usize, ostride: i32, tmp: usize,
): void {
  const es: usize = dt == 0 ? 4 : dt == 3 ? 1 : 2;
  const ws = <usize>cols * es;
  for (let r = r0; r < r1; r++) {
    const row = w + <usize>r * ws;
    const sc: f32 = dt == 3 ? load<f32>(scales + (<usize>r << 2)) : 1;
    for (let t = 0; t < tokens; t++) {
      let v: f32 = dt == 1
        ? dotBf16(row, xd + ((<usize>t * <usize>pad32(cols)) << 2), cols, tmp)
        : dotNat(dt, row, x + ((<usize>t * <usize>cols) << 2), cols, tmp);
      if (dt == 3) v = v * sc;
      store<f32>(out + ((<usize>t * <usize>ostride + <usize>r) << 2), v);
    }
  }
}

/** xd[32b + i] = x[32b + 2i], xd[32b + 16 + i] = x[32b + 2i + 1] for i < 16; columns ≥ n read as 0. */
export function deinterleave(xd: usize, x: usize, n: i32): void {
  const np = pad32(n);
  for (let b = 0; b < np; b += 32) {
    for (let i = 0; i < 16; i++) {
      const e = b + 2 * i;
      const o = e + 1;
      store<f32>(xd + (<usize>(b + i) << 2), e < n ? load<f32>(x + (<usize>e << 2)) : 0);
      store<f32>(xd + (<usize>(b + 16 + i) << 2), o < n ? load<f32>(x + (<usize>o << 2)) : 0);
    }
  }
}

// ---- SwiGLU with the canonical exp (src/engine/kernels/f32math.ts) ----

@inline function exp4(x: v128): v128 {
  const hi = f32x4.splat(88.0);
  const lo = f32x4.splat(-87.0);
  const over = f32x4.gt(x, hi);
  let xc = v128.bitselect(hi, x, over);
  xc = v128.bitselect(lo, xc, f32x4.lt(xc, lo));
  const fx = f32x4.mul(xc, f32x4.splat(1.44269504088896341));
  const t = f32x4.add(fx, f32x4.splat(12582912.0));
  const n = f32x4.sub(t, f32x4.splat(12582912.0));
  const nb = i32x4.add(i32x4.sub(t, i32x4.splat(0x4b400000)), i32x4.splat(127));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.mul(y, f32x4.mul(r, r)), r);
  y = f32x4.add(y, f32x4.splat(1.0));
  const e = f32x4.mul(y, i32x4.shl(nb, 23));
  return v128.bitselect(i32x4.splat(0x7f800000), e, over);
}

@inline function swiglu4(g: v128, u: v128): v128 {
  const neg = v128.xor(g, i32x4.splat(0x80000000));
  const s = f32x4.div(g, f32x4.add(f32x4.splat(1.0), exp4(neg)));
  return f32x4.mul(s, u);
}

/** out[i] = silu(g[i]) * u[i]; tmp: 48 scratch bytes of this thread. */
export function swiglu(out: usize, g: usize, u: usize, n: i32, tmp: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, swiglu4(v128.load(g + o), v128.load(u + o)));
  }
  if (i < n) {
    const o = <usize>i << 2;
    const k = <usize>(n - i) << 2;
    memory.fill(tmp, 0, 32);
    memory.copy(tmp, g + o, k);
    memory.copy(tmp + 16, u + o, k);
    v128.store(tmp + 32, swiglu4(v128.load(tmp), v128.load(tmp + 16)));
    memory.copy(out + o, tmp + 32, k);
  }
}

/** out[t*D + r] = out[t*D + r] + scale[t] * y[t*D + r] for t < tokens, r in [a, b); scale 0 = none (weight 1). */
export function accumulate(out: usize, y: usize, scale: usize, tokens: i32, d: i32, a: i32, b: i32): void {
  for (let t = 0; t < tokens; t++) {
    const s: f32 = scale == 0 ? 1 : load<f32>(scale + (<usize>t << 2));
    for (let r = a; r < b; r++) {
      const o = (<usize>t * <usize>d + <usize>r) << 2;
      store<f32>(out + o, load<f32>(out + o) + s * load<f32>(y + o));
    }
  }
}
