import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isBlyanError } from '../../src/errors.ts';
import { formatBly, MAX_AMOUNT, ONE_BLY, parseBly, parseUnits } from '../../src/ledger/amount.ts';

test('BLY amounts parse and print exactly', () => {
  assert.equal(parseBly('1'), ONE_BLY);
  assert.equal(parseBly('0.5'), ONE_BLY / 2n);
  assert.equal(parseBly('0.000000000000000001'), 1n);
  assert.equal(formatBly(1500000000000000000n), '1.5');
  assert.equal(formatBly(0n), '0');
  assert.equal(formatBly(1n), '0.000000000000000001');
  assert.equal(formatBly(-ONE_BLY), '-1');
  for (const bad of ['', '-1', '+1', '1e3', '01', '1.', '.5', '0.0000000000000000001', ' 1', '1,5', 'NaN', 'Infinity']) {
    assert.throws(() => parseBly(bad), (e) => isBlyanError(e, 'LEDGER_BAD_AMOUNT'), bad);
  }
  assert.throws(() => parseBly('340282366920938463464'), (e) => isBlyanError(e, 'LEDGER_AMOUNT_OVERFLOW'));
  assert.throws(() => parseUnits((MAX_AMOUNT + 1n).toString()), (e) => isBlyanError(e, 'LEDGER_AMOUNT_OVERFLOW'));
  assert.equal(parseUnits(MAX_AMOUNT.toString()), MAX_AMOUNT);
});

test('formatBly and parseBly are inverse on every amount', () => {
  fc.assert(fc.property(fc.bigInt(0n, MAX_AMOUNT), (v) => parseBly(formatBly(v)) === v));
});
