// Portable C kernels: the canonical arithmetic of kernels.h one element at a time. Used where neither
// AVX2+FMA+F16C nor AVX-512 is present (and on non-x86 hosts); slow but bitwise identical to the SIMD paths.
#include <string.h>

#include "kernels.h"

static float bits_f32(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static uint32_t f32_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

static float f16_to_f32(uint16_t h) {
  uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    if (m == 0) return bits_f32(s);
    uint32_t sh = 0;
    while (!(m & 0x400u)) { m <<= 1; sh++; }
    return bits_f32(s | ((113u - sh) << 23) | ((m & 0x3ffu) << 13));
  }
  if (e == 31) return bits_f32(s | 0x7f800000u | (m << 13));
  return bits_f32(s | ((e + 112u) << 23) | (m << 13));
}

static inline float load_w(const uint8_t *row, int dt, int c) {
  switch (dt) {
    case DT_F32: { float v; memcpy(&v, row + (size_t)c * 4, 4); return v; }
    case DT_BF16: { uint16_t b; memcpy(&b, row + (size_t)c * 2, 2); return bits_f32((uint32_t)b << 16); }
    case DT_F16: { uint16_t b; memcpy(&b, row + (size_t)c * 2, 2); return f16_to_f32(b); }
    default: return (float)(int8_t)row[c];
  }
}

static float fold32(float *a) {
  for (int half = 16; half >= 1; half >>= 1)
    for (int l = 0; l < half; l++) a[l] = a[l] + a[l + half];
  return a[0];
}

static void rows_scalar(const kmat *m, const float *x, const float *xd, const float *xr, int tokens, int r0, int r1, float *out, size_t ostride) {
  const size_t ws = (size_t)m->cols * dtype_bytes(m->dtype);
  const int cols = m->cols, dt = m->dtype;
  for (int r = r0; r < r1; r++) {
    const uint8_t *row = m->data + ws * (size_t)r;
    for (int t = 0; t < tokens; t++) {
      const float *xt = x + (size_t)t * cols;
      float acc[32] = {0};
      for (int c = 0; c < cols; c++) {
        float p = load_w(row, dt, c) * xt[c];
        acc[c & 31] = acc[c & 31] + p;
      }
      float s = fold32(acc);
      if (dt == DT_I8) s = s * m->scales[r];
      out[(size_t)t * ostride + r] = s;
    }
  }
}

static float exp32(float x) {
  float xc = x > EXP_HI ? EXP_HI : x;
  xc = xc < EXP_LO ? EXP_LO : xc;
  float fx = xc * EXP_LOG2E;
  float t = fx + EXP_MAGIC;
  float n = t - EXP_MAGIC;
  uint32_t nb = f32_bits(t) - 0x4b400000u + 127u;  // n + 127 (wraps harmlessly for NaN: the result is NaN)
  float r = xc - n * EXP_LN2_HI;
  r = r - n * EXP_LN2_LO;
  float y = EXP_P0;
  y = y * r + EXP_P1;
  y = y * r + EXP_P2;
  y = y * r + EXP_P3;
  y = y * r + EXP_P4;
  y = y * r + EXP_P5;
  y = y * (r * r) + r;
  y = y + 1.0f;
  float e = y * bits_f32(nb << 23);
  return x > EXP_HI ? bits_f32(0x7f800000u) : e;
}

static void swiglu_scalar(float *out, const float *g, const float *u, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float gi = g[i];
    float s = gi / (1.0f + exp32(-gi));
    out[i] = s * u[i];
  }
}

const kisa kisa_scalar = {"scalar", rows_scalar, swiglu_scalar, 0, 0};
