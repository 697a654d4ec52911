/** The delta codec: round trips, properties, strict decoding of malformed input, deterministic apply. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isBlyanError } from '../../src/errors.ts';
import { applyDelta, compressDelta, decodeDelta, deltaNorm, dequantizeDelta, encodeDelta, type F32Matrix, makeDelta } from '../../src/learning/delta.ts';

function matrix(name: string, rows: number, cols: number, f: (i: number) => number): F32Matrix {
  return { name, rows, cols, values: Float32Array.from({ length: rows * cols }, (_, i) => f(i)) };
}

const base = [matrix('gate', 6, 10, (i) => Math.sin(i)), matrix('up', 6, 10, (i) => Math.cos(i)), matrix('down', 10, 6, (i) => i / 60)];
const next = base.map((m, k) => ({ ...m, values: m.values.map((v, i) => v + 0.01 * Math.sin(i * 7 + k) * (i % 3)) }));

test('dense and sparse deltas round trip through the binary format', () => {
  for (const opts of [{}, { topK: { k: 4, per: 'row' as const } }, { topK: { k: 17, per: 'tensor' as const } }]) {
    const { delta, bytes } = makeDelta(base, next, opts);
    const back = decodeDelta(bytes);
    assert.deepEqual(back, delta);
    assert.deepEqual(encodeDelta(back), bytes);
    const applied = applyDelta(base, back);
    for (const [t, m] of applied.entries()) {
      const want = next[t] as F32Matrix;
      for (let i = 0; i < m.values.length; i++) {
        const err = Math.abs((m.values[i] as number) - (want.values[i] as number));
        if (opts.topK === undefined) assert.ok(err <= 0.02 / 127 + 1e-6, `err ${err}`);
      }
    }
  }
  const sparse = compressDelta(base, next, { topK: { k: 4, per: 'row' } });
  for (const t of sparse.tensors) if (t.kind === 'sparse') assert.ok(t.counts.every((c) => c <= 4));
});

test('property: encode → decode is the identity, and apply is deterministic', () => {
  const arbMatrix = (name: string) =>
    fc.record({ rows: fc.integer({ min: 1, max: 5 }), cols: fc.integer({ min: 1, max: 9 }) }).chain(({ rows, cols }) =>
      fc
        .tuple(
          fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -100, max: 100 }), { minLength: rows * cols, maxLength: rows * cols }),
          fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1, max: 1 }), { minLength: rows * cols, maxLength: rows * cols }),
        )
        .map(([b, d]) => ({ b: { name, rows, cols, values: Float32Array.from(b) }, n: { name, rows, cols, values: Float32Array.from(b.map((v, i) => v + (d[i] as number))) } })),
    );
  fc.assert(
    fc.property(arbMatrix('w1'), fc.option(fc.record({ k: fc.integer({ min: 0, max: 50 }), per: fc.constantFrom('row' as const, 'tensor' as const) })), (m, topK) => {
      const { delta, bytes } = makeDelta([m.b], [m.n], topK === null ? {} : { topK });
      assert.deepEqual(decodeDelta(bytes), delta);
      const a = applyDelta([m.b], decodeDelta(bytes));
      const b = applyDelta([m.b], delta);
      assert.deepEqual(a, b);
      assert.ok(Number.isFinite(deltaNorm(delta)));
      const dq = dequantizeDelta(delta)[0] as F32Matrix;
      // === (not Object.is): an untouched sparse entry keeps a base −0 where base + 0 would give +0
      for (let i = 0; i < dq.values.length; i++) assert.ok(a[0]?.values[i] === Math.fround((m.b.values[i] as number) + (dq.values[i] as number)));
    }),
    { numRuns: 200 },
  );
});

test('malformed input: every truncation, trailing bytes and random corruption give typed errors', () => {
  for (const opts of [{}, { topK: { k: 3, per: 'row' as const } }]) {
    const { bytes } = makeDelta(base, next, opts);
    for (let n = 0; n < bytes.length; n++) {
      assert.throws(() => decodeDelta(bytes.subarray(0, n)), (e: unknown) => isBlyanError(e, 'DELTA_MALFORMED'));
    }
    assert.throws(() => decodeDelta(new Uint8Array([...bytes, 0])), (e: unknown) => isBlyanError(e, 'DELTA_MALFORMED'));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const bad = bytes.slice();
        bad[at] = (bad[at] as number) ^ x;
        try {
          const d = decodeDelta(bad);
          assert.deepEqual(encodeDelta(d), bad); // whatever decodes is canonical
        } catch (e) {
          assert.ok(isBlyanError(e) && (e.code === 'DELTA_MALFORMED' || e.code === 'DELTA_NOT_FINITE'), String(e));
        }
      }),
      { numRuns: 500 },
    );
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
      try {
        decodeDelta(junk);
      } catch (e) {
        assert.ok(isBlyanError(e) && (e.code === 'DELTA_MALFORMED' || e.code === 'DELTA_NOT_FINITE'));
      }
    }),
  );
});

test('NaN and ±∞ scales are DELTA_NOT_FINITE; −128, negative scales, huge counts are DELTA_MALFORMED', () => {
  const { bytes } = makeDelta(base, next);
  const scaleAt = 8 + 1 + 4 + 1 + 8;
  for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    const bad = bytes.slice();
    new DataView(bad.buffer).setFloat32(scaleAt, v, true);
    assert.throws(() => decodeDelta(bad), (e: unknown) => isBlyanError(e, 'DELTA_NOT_FINITE'));
  }
  const neg = bytes.slice();
  new DataView(neg.buffer).setFloat32(scaleAt, -0.5, true);
  assert.throws(() => decodeDelta(neg), (e: unknown) => isBlyanError(e, 'DELTA_MALFORMED'));
  const m128 = bytes.slice();
  m128[scaleAt + 4 * 6] = 0x80;
  assert.throws(() => decodeDelta(m128), (e: unknown) => isBlyanError(e, 'DELTA_MALFORMED'));
  const rows = bytes.slice();
  new DataView(rows.buffer).setUint32(8 + 1 + 4 + 1, 0xffffffff, true);
  assert.throws(() => decodeDelta(rows), (e: unknown) => isBlyanError(e, 'DELTA_MALFORMED'));
  // non-finite differences never encode
  assert.throws(() => compressDelta([matrix('w', 1, 2, () => 0)], [matrix('w', 1, 2, () => Number.NaN)]), (e: unknown) => isBlyanError(e, 'DELTA_NOT_FINITE'));
  // overflow on apply
  const huge = [matrix('w', 1, 2, () => 3e38)];
  const d = compressDelta(huge, [matrix('w', 1, 2, () => 3.4e38)]);
  assert.throws(() => applyDelta([matrix('w', 1, 2, () => 3.4e38)], d), (e: unknown) => isBlyanError(e, 'DELTA_NOT_FINITE'));
});

test('round-half-even quantisation and top-k ties are fixed', () => {
  // row max 127 → scale 1; 0.5 → 0, 1.5 → 2, 2.5 → 2, −0.5 → −0
  const b = [matrix('w', 1, 5, () => 0)];
  const n = [{ name: 'w', rows: 1, cols: 5, values: Float32Array.of(127, 0.5, 1.5, 2.5, -0.5) }];
  const d = compressDelta(b, n);
  const t = d.tensors[0];
  assert.ok(t?.kind === 'dense');
  assert.deepEqual([...t.q], [127, 0, 2, 2, 0]);
  // equal magnitudes: lower indices win
  const s = compressDelta(b, [{ name: 'w', rows: 1, cols: 5, values: Float32Array.of(1, -1, 1, -1, 1) }], { topK: { k: 2, per: 'tensor' } }).tensors[0];
  assert.ok(s?.kind === 'sparse');
  assert.deepEqual([...s.indices], [0, 1]);
});

test('compression ratio on an expert-sized tensor', () => {
  const I = 256;
  const H = 128;
  const b = [matrix('gate', I, H, (i) => Math.sin(i)), matrix('up', I, H, (i) => Math.cos(i)), matrix('down', H, I, (i) => Math.sin(i / 3))];
  const n = b.map((m) => ({ ...m, values: m.values.map((v, i) => v + 1e-3 * Math.sin(i * 1.7)) }));
  const dense = makeDelta(b, n).bytes.length;
  const sparse = makeDelta(b, n, { topK: { k: 16, per: 'row' } }).bytes.length;
  const raw = 3 * I * H * 4;
  console.log(`expert ${I}×${H}: raw f32 ${raw} B, dense int8 ${dense} B (×${(raw / dense).toFixed(2)}), top-16/row ${sparse} B (×${(raw / sparse).toFixed(2)})`);
  assert.ok(raw / dense > 3.8);
  assert.ok(sparse < dense);
});
