import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedSet } from '../src/boundedSet.ts';

test('BoundedSet keeps the newest max entries; adding one it has forgets nothing', () => {
  const s = new BoundedSet(3);
  for (const k of ['a', 'b', 'c']) s.add(k);
  s.add('a');
  assert.ok(['a', 'b', 'c'].every((k) => s.has(k)), 'a repeat does not evict');
  s.add('d');
  assert.equal(s.has('a'), false, 'the oldest goes first');
  assert.ok(['b', 'c', 'd'].every((k) => s.has(k)));
});
