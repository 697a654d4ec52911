/**
 * The validation loss is bit-deterministic: the same bits with js, wasm and native kernels, 1 or 2 threads,
 * any batch size, and in two separate processes; canonical log32 is accurate.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeRecord } from '../../src/chain/encoding.ts';
import type { Hash } from '../../src/chain/hash.ts';
import { loadKernels } from '../../src/engine/kernels/index.ts';
import { log32 } from '../../src/engine/kernels/f32math.ts';
import { buildDeltaBlock } from '../../src/learning/deltaBlock.ts';
import { evaluate, PrefixCache } from '../../src/learning/evaluate.ts';
import { Lineage, lineageSource } from '../../src/learning/lineage.ts';
import { loadValidationSet } from '../../src/learning/polValidationSet.ts';
import { freshStore, TEST_KEY } from '../helpers/fixtures.ts';
import { add, COMPONENT, improvingStep, setupModel, T0 } from './polFixture.ts';

test('log32 is within 1 ulp of the true log and handles the edges', () => {
  let worst = 0;
  for (let i = 0; i < 20000; i++) {
    const x = Math.fround(Math.exp((i / 20000 - 0.5) * 160));
    const want = Math.fround(Math.log(x));
    const ulp = Math.max(Math.abs(want) * 2 ** -23, 2 ** -149);
    worst = Math.max(worst, Math.abs(log32(x) - want) / ulp);
  }
  assert.ok(worst <= 1, `worst ${worst} ulp`);
  assert.equal(log32(1), 0);
  assert.equal(log32(0), Number.NEGATIVE_INFINITY);
  assert.ok(Number.isNaN(log32(-1)));
  assert.equal(log32(Number.POSITIVE_INFINITY), Number.POSITIVE_INFINITY);
  assert.ok(Number.isFinite(log32(1e-45)));
});

test('same loss bits for every kernel, thread count, batch size and prefix reuse; two processes agree', { timeout: 240_000 }, async () => {
  const { store, dir, cleanup } = freshStore();
  try {
    const s = setupModel(store, dir);
    const vs = await loadValidationSet(store, s.entry);
    const bits = new Set<string>();
    const names: string[] = [];
    for (const [prefer, threads] of [['js', 1], ['wasm', 1], ['wasm', 2], ['native', 1], ['native', 2]] as const) {
      const k = await loadKernels({ prefer, threads });
      try {
        if (k.name !== prefer) continue;
        names.push(`${k.name}/${k.threads}`);
        for (const batchSize of [1, 4, 6]) {
          const r = await evaluate({ config: s.entry.meta.config, source: lineageSource(store, s.entry), kernels: k, tokens: vs.tokens, offsets: vs.spec.offsets, context: vs.spec.context, batchSize });
          bits.add(r.bits);
        }
      } finally {
        await k.close();
      }
    }
    assert.equal(bits.size, 1, `bits ${[...bits].join(', ')} over ${names.join(', ')}`);
    // prefix reuse gives the same bits as a full run
    const k = await loadKernels();
    const cache = new PrefixCache();
    const args = { config: s.entry.meta.config, source: lineageSource(store, s.entry), kernels: k, tokens: vs.tokens, offsets: vs.spec.offsets, context: vs.spec.context, batchSize: 4 };
    const first = await evaluate({ ...args, prefix: { cache, key: 'k', layer: 1 } });
    const second = await evaluate({ ...args, prefix: { cache, key: 'k', layer: 1 } });
    assert.equal(first.bits, [...bits][0]);
    assert.equal(second.bits, first.bits);

    // the same delta validated in two processes with different kernels and threads
    const step = await improvingStep(store, s.entry, k, 5);
    await k.close();
    const mats = new Lineage(store).materialize(store.currentVersion(s.entry.id, COMPONENT) as Hash);
    const built = buildDeltaBlock({ store, model: s.entry, component: COMPONENT, newTensors: add(mats, step, 0.6), manifestFields: { dataset: s.dataset.id, shards: [0], steps: 1, lr: 0.01, seed: 1, trainLossBefore: 5.5, trainLossAfter: 5.4 }, signer: TEST_KEY, time: T0 + 10 });
    writeFileSync(join(dir, 'delta.record'), encodeRecord(built.block));
    writeFileSync(join(dir, 'delta.payload'), built.payload);
    await store.close();
    const run = (env: Record<string, string>) =>
      JSON.parse(
        execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'evaluateChild.ts'), dir], {
          env: { ...process.env, ...env },
          encoding: 'utf8',
        }).trim(),
      ) as { kernels: string; threads: number; bits: { baseLoss: string; newLoss: string; improvement: string }; evalMs: number };
    const slow = run({ BLYAN_KERNELS: 'js', BLYAN_THREADS: '1' });
    const fast = run({ BLYAN_THREADS: '2' });
    console.log(`process 1: ${slow.kernels}/${slow.threads} ${JSON.stringify(slow.bits)} ${slow.evalMs.toFixed(0)} ms; process 2: ${fast.kernels}/${fast.threads} ${JSON.stringify(fast.bits)} ${fast.evalMs.toFixed(0)} ms`);
    assert.equal(slow.kernels, 'js');
    assert.notEqual(fast.kernels, 'js');
    assert.deepEqual(slow.bits, fast.bits);
    assert.equal(slow.bits.baseLoss, [...bits][0]);
  } finally {
    await cleanup().catch(() => undefined);
  }
});
