import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argmax, Sampler, SeededRandom } from '../../src/engine/sampler.ts';
import { isBlyanError } from '../../src/errors.ts';

const logits = Float32Array.from([0.1, 2.0, 1.5, -3, 2.0, 0.7]);

test('greedy takes the largest logit, lowest id on ties', () => {
  assert.equal(argmax(logits), 1);
  assert.equal(new Sampler({ greedy: true }).sample(logits, []), 1);
  assert.equal(new Sampler({ temperature: 0 }).sample(logits, []), 1);
});

test('the same seed gives the same samples; another seed differs', () => {
  const draw = (seed: number) => {
    const s = new Sampler({ temperature: 1.5, seed });
    return Array.from({ length: 64 }, () => s.sample(logits, []));
  };
  assert.deepEqual(draw(7), draw(7));
  assert.notDeepEqual(draw(7), draw(8));
  const r = new SeededRandom(1);
  for (let i = 0; i < 1000; i++) {
    const v = r.next();
    assert.ok(v >= 0 && v < 1);
  }
});

test('top-k and top-p restrict the candidates', () => {
  const k2 = new Sampler({ temperature: 5, topK: 2, seed: 3 });
  const seen = new Set(Array.from({ length: 300 }, () => k2.sample(logits, [])));
  assert.deepEqual([...seen].sort(), [1, 4]);
  // probabilities at T=1: ids 1 and 4 dominate; top-p 0.5 keeps only the first of the sorted pair
  const p = new Sampler({ topP: 0.3, seed: 9 });
  const seenP = new Set(Array.from({ length: 200 }, () => p.sample(logits, [])));
  assert.deepEqual([...seenP], [1]);
});

test('sampling follows the softmax distribution', () => {
  const two = Float32Array.from([Math.log(3), 0]); // p = 0.75 / 0.25
  const s = new Sampler({ seed: 11 });
  let zeros = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) if (s.sample(two, []) === 0) zeros++;
  assert.ok(Math.abs(zeros / n - 0.75) < 0.015, `observed ${zeros / n}`);
});

test('repetition penalty pushes used tokens down', () => {
  const s = new Sampler({ greedy: true, repetitionPenalty: 3 });
  assert.equal(s.sample(logits, [1, 4]), 2);
});

test('bad sampling options are typed errors', () => {
  for (const o of [{ temperature: -1 }, { topK: 1.5 }, { topP: 0 }, { topP: 1.5 }, { repetitionPenalty: 0 }]) {
    assert.throws(() => new Sampler(o), (e: unknown) => isBlyanError(e, 'ENGINE_BAD_INPUT'));
  }
});
