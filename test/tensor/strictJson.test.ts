import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseJsonStrict } from '../../src/tensor/strictJson.ts';

test('duplicate keys are found at any depth, also when spelled with escapes', () => {
  const dup = ['{"a":1,"a":2}', '{"a":1,"\\u0061":2}', '{"x":{"k":[1,{"b":1,"b":1}]}}', '{"x":{"k":1,"k":2}}', '[{"a":{},"a":[]}]'];
  for (const text of dup) assert.equal(parseJsonStrict(text).ok, false, text);
  const fine = ['{"a":{"a":1},"b":[{"a":1},{"a":2}]}', '{"a\\"":1,"a":2}', '{"a,b":"c:d","{":"}"}', '[]', '"s"', '{}'];
  for (const text of fine) assert.equal(parseJsonStrict(text).ok, true, text);
  assert.equal(parseJsonStrict('{"a":').ok, false);
});

test('top-level keys are reported in file order (JSON.parse puts integer-like keys first)', () => {
  const r = parseJsonStrict('{"b":1,"10":{"z":1},"__metadata__":{},"2":0}');
  assert.ok(r.ok);
  assert.deepEqual(r.topLevelKeys, ['b', '10', '__metadata__', '2']);
  assert.deepEqual(Object.keys(r.value as object), ['2', '10', 'b', '__metadata__']);
});

test('property: agrees with JSON.parse on any JSON without duplicates', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const text = JSON.stringify(v);
      const r = parseJsonStrict(text);
      assert.ok(r.ok, text);
      assert.deepEqual(r.value, JSON.parse(text));
    }),
    { numRuns: 500 },
  );
});
