import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BlyanError } from '../../src/errors.ts';
import { applyBlock } from '../../src/ledger/apply.ts';
import { MemoryLedgerState } from '../../src/ledger/memoryState.ts';
import { accountToJson, holdToJson } from '../../src/ledger/stateCodec.ts';
import { SYSTEM } from '../../src/ledger/systemAccounts.ts';
import { encodeBatch } from '../../src/ledger/txCodec.ts';
import { bly, PARAMS, T0 } from './helpers.ts';
import { holdTag, type Model, type Op, op, toTx, USERS } from './ops.ts';

function snapshot(s: MemoryLedgerState): string {
  return [...[...s.accounts].map(([a, acc]) => `${a}${accountToJson(acc)}`), ...[...s.holds.values()].map(holdToJson), ...[...s.quotas].map(String)].join('|');
}

function checkInvariants(s: MemoryLedgerState): void {
  let sum = 0n;
  let staked = 0n;
  for (const [addr, acc] of s.accounts) {
    sum += acc.balance;
    staked += acc.stake;
    if (addr !== SYSTEM.issuance) assert.ok(acc.balance >= 0n, `${addr} negative`);
  }
  assert.equal(sum, 0n, 'debits = credits: balances sum to zero');
  let open = 0n;
  for (const h of s.holds.values()) if (h.state === 'authorized') open += h.amount;
  assert.equal(s.accounts.get(SYSTEM.escrow)?.balance ?? 0n, open, 'escrow = open holds');
  assert.equal(s.accounts.get(SYSTEM.stakeVault)?.balance ?? 0n, staked, 'stake vault = stakes');
  let d = 0n;
  for (const p of s.postings) {
    assert.ok(p.amount > 0n);
    d += p.amount;
  }
  assert.ok(d >= 0n);
}

test('pure applyBlock: random valid and invalid operations keep every invariant; refused ones change nothing', () => {
  const outcomes = { accepted: 0, refused: 0, kinds: new Set<string>() };
  fc.assert(
    fc.property(fc.array(op, { minLength: 20, maxLength: 80 }), (ops) => {
      const state = new MemoryLedgerState();
      state.merge(applyBlock(state, { chain: 'C', index: 0, type: 'genesis', time: T0 }, new Uint8Array(0), PARAMS));
      const m: Model = { nonces: new Map(), holds: [], sent: [], time: T0 };
      let index = 1;
      const funding: Op[] = USERS.flatMap((_, i): Op[] => [
        { t: 'grant', to: i, amount: bly(10) },
        { t: 'stake', from: i, amount: bly(1) },
      ]);
      for (const o of [...funding, ...ops]) {
        const tx = toTx(o, m, (a) => state.account(a)?.nonce ?? 0n, (q) => holdTag(state.hold(q), m.time));
        if (tx === undefined) continue;
        const before = snapshot(state);
        try {
          const diff = applyBlock(state, { chain: 'C', index, type: 'txbatch', time: m.time }, encodeBatch([tx]), PARAMS);
          state.merge(diff);
          index++;
          m.sent.push(tx);
          outcomes.accepted++;
          outcomes.kinds.add(tx.kind);
        } catch (err) {
          assert.ok(err instanceof BlyanError, `typed error, got ${String(err)}`);
          assert.equal(snapshot(state), before, 'a refused block changes nothing');
          outcomes.refused++;
        }
        checkInvariants(state);
      }
    }),
    { numRuns: 60 },
  );
  // The generator must exercise both sides and every user-facing kind.
  assert.ok(outcomes.accepted > 100 && outcomes.refused > 100, JSON.stringify({ ...outcomes, kinds: [...outcomes.kinds] }));
  for (const k of ['Grant', 'Transfer', 'Stake', 'Unstake', 'Authorize', 'Capture', 'Release', 'Refund']) assert.ok(outcomes.kinds.has(k), `${k} accepted at least once`);
});
