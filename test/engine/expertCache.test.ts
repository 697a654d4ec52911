import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExpertCache } from '../../src/engine/expertCache.ts';
import type { ComponentWeights, ExpertSource } from '../../src/engine/expertSource.ts';
import { route } from '../../src/engine/router.ts';

class CountingSource implements ExpertSource {
  loads: string[] = [];
  constructor(private readonly sizes: Record<string, number>) {}
  async load(name: string): Promise<ComponentWeights> {
    this.loads.push(name);
    return {
      name,
      block: name,
      bytes: this.sizes[name] ?? 100,
      tensor() {
        throw new Error('not used');
      },
    };
  }
}

test('LRU by bytes: least recently used goes first; usage is counted per call', async () => {
  const src = new CountingSource({ a: 40, b: 40, c: 40 });
  const cache = new ExpertCache(src, 100);
  await cache.get('a');
  await cache.get('b');
  await cache.get('a'); // a is now the most recent
  await cache.get('c'); // evicts b
  await cache.get('a');
  await cache.get('b');
  assert.deepEqual(src.loads, ['a', 'b', 'c', 'b']);
  const s = cache.stats();
  assert.equal(s.hits, 2);
  assert.equal(s.misses, 4);
  assert.ok(s.bytes <= 100);
  assert.deepEqual(cache.usageCounts(), { a: 3, b: 2, c: 1 });
});

test('an entry larger than the budget is served but not kept', async () => {
  const src = new CountingSource({ big: 500, small: 10 });
  const cache = new ExpertCache(src, 100);
  await cache.get('small');
  assert.equal((await cache.get('big')).name, 'big');
  await cache.get('big');
  assert.deepEqual(src.loads, ['small', 'big', 'big']);
  assert.equal(cache.stats().entries, 1);
});

test('router: softmax top-k in descending order, ties to the lower index, optional renormalisation', () => {
  const logits = Float32Array.from([0, 1, 3, 1, -2]);
  const r = route(logits, 0, 5, 2, false);
  assert.deepEqual(r.experts, [2, 1]);
  const e = logits.map((x) => Math.exp(x));
  const sum = e.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs((r.weights[0] as number) - (e[2] as number) / sum) < 1e-6);
  const n = route(logits, 0, 5, 2, true);
  assert.ok(Math.abs((n.weights[0] as number) + (n.weights[1] as number) - 1) < 1e-6);
  const off = route(Float32Array.from([9, 9, 0, 1, 3, 1, -2]), 2, 5, 3, false);
  assert.deepEqual(off.experts, [2, 1, 3]);
});
