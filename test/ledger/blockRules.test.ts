// The ledger rules a chain-C block from the network must keep (src/ledger/blockRules.ts, docs/ledger.md §9.4):
// rule C1 (the author is the ledger producer named by chain A's params, from its activeFrom on) and every
// transaction applying to the state at its parent, with the failing transaction and rule named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TINY } from '../../src/chain/presets.ts';
import { addressOf } from '../../src/chain/sign.ts';
import { BlyanError, isBlyanError } from '../../src/errors.ts';
import { applyBlock } from '../../src/ledger/apply.ts';
import { checkLedgerBlock, checkProducer, type LedgerBlockHeader } from '../../src/ledger/blockRules.ts';
import { MemoryLedgerState } from '../../src/ledger/memoryState.ts';
import { changeOf, encodeParamsChange } from '../../src/ledger/paramsBlock.ts';
import { ParamsSchedule } from '../../src/ledger/paramsSchedule.ts';
import { encodeBatch } from '../../src/ledger/txCodec.ts';
import { classifyBlockError } from '../../src/p2p/gossip.ts';
import { penaltyFor } from '../../src/p2p/sync/context.ts';
import { AUTHORITY, bly, PARAMS, sign, T0, user } from './helpers.ts';

const producer = user('rules producer');
const rogue = user('rules rogue');
const alice = user('rules alice');
const bob = user('rules bob');

const header = (index: number, author: Uint8Array, time = T0): LedgerBlockHeader => ({ chain: 'C', index, type: 'txbatch', time, author });

/** Genesis, then C:1 granting alice 10 BLY: the state a C:2 is checked against. */
function stateAtC1(): MemoryLedgerState {
  const s = new MemoryLedgerState();
  s.merge(applyBlock(s, { chain: 'C', index: 0, type: 'genesis', time: TINY.genesisTime }, new Uint8Array(0), PARAMS));
  const grant = encodeBatch([sign(AUTHORITY, 'Grant', { to: alice.addr, amount: bly(10), nonce: 0n })]);
  return s.merge(applyBlock(s, header(1, addressOf(producer.key)), grant, PARAMS));
}

const refusedWith = (code: string, rule?: string, tx?: number) => (e: unknown) => {
  assert.ok(isBlyanError(e, code as never), `expected ${code}, got ${String(e)}`);
  if (rule !== undefined) assert.equal(e.data.rule, rule);
  if (tx !== undefined) assert.equal(e.data.tx, tx);
  assert.equal(e.data.block, 2);
  return true;
};

test('a block whose transactions apply is accepted: the diff is the one applying it gives, and the state is untouched', () => {
  const s = stateAtC1();
  const before = s.account(alice.addr);
  const payload = encodeBatch([sign(alice, 'Transfer', { to: bob.addr, amount: bly(4), nonce: 0n })]);
  const diff = checkLedgerBlock(s, header(2, addressOf(rogue.key)), payload, PARAMS);
  assert.equal(diff.accounts.get(bob.addr)?.balance, bly(4));
  assert.deepEqual(diff, applyBlock(s, header(2, addressOf(rogue.key)), payload, PARAMS));
  assert.deepEqual(s.account(alice.addr), before, 'a dry run writes nothing');
});

test('an overspend, a replayed nonce, an unknown account: LEDGER_BLOCK_INVALID naming the transaction and the rule', () => {
  const s = stateAtC1();
  const ok = sign(alice, 'Transfer', { to: bob.addr, amount: bly(4), nonce: 0n });
  const author = addressOf(producer.key);
  // The second transaction spends more than is left after the first.
  const overspend = encodeBatch([ok, sign(alice, 'Transfer', { to: bob.addr, amount: bly(7), nonce: 1n })]);
  assert.throws(() => checkLedgerBlock(s, header(2, author), overspend, PARAMS), refusedWith('LEDGER_BLOCK_INVALID', 'LEDGER_INSUFFICIENT_FUNDS', 1));
  assert.throws(() => checkLedgerBlock(s, header(2, author), overspend, PARAMS), /transaction 1 of block C:2.*LEDGER_INSUFFICIENT_FUNDS|LEDGER_INSUFFICIENT_FUNDS.*transaction 1 of block C:2/);
  const replay = encodeBatch([ok, sign(alice, 'Transfer', { to: bob.addr, amount: 1n, nonce: 0n })]);
  assert.throws(() => checkLedgerBlock(s, header(2, author), replay, PARAMS), refusedWith('LEDGER_BLOCK_INVALID', 'LEDGER_NONCE_REPLAYED', 1));
  const stranger = encodeBatch([sign(bob, 'Transfer', { to: alice.addr, amount: 1n, nonce: 0n })]);
  assert.throws(() => checkLedgerBlock(s, header(2, author), stranger, PARAMS), refusedWith('LEDGER_BLOCK_INVALID', 'LEDGER_UNKNOWN_ACCOUNT', 0));
  const notABatch = new Uint8Array([1, 2, 3]);
  assert.throws(() => checkLedgerBlock(s, header(2, author), notABatch, PARAMS), refusedWith('LEDGER_BLOCK_INVALID', 'LEDGER_BAD_BATCH'));
});

test('C1: with a producer named, another author is LEDGER_NOT_PRODUCER; without one (the presets) any author is valid', () => {
  const s = stateAtC1();
  const payload = encodeBatch([sign(alice, 'Transfer', { to: bob.addr, amount: 1n, nonce: 0n })]);
  const named = { ...PARAMS, producer: user('rules producer').addr };
  assert.equal(PARAMS.producer, null);
  assert.doesNotThrow(() => checkLedgerBlock(s, header(2, addressOf(rogue.key)), payload, PARAMS));
  assert.doesNotThrow(() => checkLedgerBlock(s, header(2, addressOf(producer.key)), payload, named));
  assert.throws(() => checkLedgerBlock(s, header(2, addressOf(rogue.key)), payload, named), (e) => {
    assert.ok(isBlyanError(e, 'LEDGER_NOT_PRODUCER'));
    assert.equal(e.data.producer, producer.addr);
    assert.equal(e.data.author, rogue.addr);
    return true;
  });
  // The rule is about txbatch blocks: C:0 is the network's.
  assert.doesNotThrow(() => checkProducer({ chain: 'C', index: 0, type: 'genesis', time: 0, author: addressOf(rogue.key) }, named));
});

test('C1 from activeFrom on: before it any author, from it only the producer (the params schedule of chain A)', () => {
  const activeFrom = T0 + 10_000;
  const change = { ...changeOf(PARAMS, activeFrom), producer: producer.addr };
  const schedule = new ParamsSchedule(PARAMS, [{ index: 5, time: T0 - 1000, author: AUTHORITY.addr, id: 'a5', payload: encodeParamsChange(change) }], 0);
  assert.deepEqual(schedule.refused, []);
  const s = stateAtC1();
  const payload = encodeBatch([sign(alice, 'Transfer', { to: bob.addr, amount: 1n, nonce: 0n })]);
  const check = (author: Uint8Array, time: number) => checkLedgerBlock(s, header(2, author, time), payload, schedule.at(time));
  assert.doesNotThrow(() => check(addressOf(rogue.key), activeFrom - 1), 'before activeFrom: any author');
  assert.throws(() => check(addressOf(rogue.key), activeFrom), (e) => isBlyanError(e, 'LEDGER_NOT_PRODUCER'));
  assert.doesNotThrow(() => check(addressOf(producer.key), activeFrom + 1));
});

test('the network’s verdicts: a block breaking a ledger rule is bad data (gossip reject, sync penalty); a stuck ledger of our own blames nobody', () => {
  for (const code of ['LEDGER_BLOCK_INVALID', 'LEDGER_NOT_PRODUCER'] as const) {
    const e = new BlyanError(code, code);
    assert.deepEqual(classifyBlockError(e, undefined, 3), { verdict: 'reject', unknownParent: false });
    assert.equal(penaltyFor(e), 'bad-data');
  }
  const stuck = new BlyanError('STORE_CORRUPT', 'C:3, stored earlier, does not apply');
  assert.deepEqual(classifyBlockError(stuck, undefined, 3), { verdict: 'ignore', unknownParent: false });
  assert.equal(penaltyFor(stuck), undefined);
});
