import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BlyanError } from '../../src/errors.ts';
import { applyBlock } from '../../src/ledger/apply.ts';
import { auditLedger } from '../../src/ledger/audit.ts';
import { MemoryLedgerState } from '../../src/ledger/memoryState.ts';
import { authorizeMessage, makeQuote } from '../../src/ledger/pricing.ts';
import { accountToJson, holdToJson } from '../../src/ledger/stateCodec.ts';
import type { Hold } from '../../src/ledger/state.ts';
import { type Hex20, SYSTEM } from '../../src/ledger/systemAccounts.ts';
import type { AnyTx } from '../../src/ledger/tx.ts';
import { encodeBatch } from '../../src/ledger/txCodec.ts';
import type { Hex32 } from '../../src/ledger/txTypes.ts';
import { AUTHORITY, bly, freshLedger, PARAMS, sign, T0, type User, user } from './helpers.ts';

const USERS: User[] = ['p0', 'p1', 'p2', 'p3'].map(user);

type Op =
  | { t: 'grant'; to: number; amount: bigint }
  | { t: 'transfer'; from: number; to: number; amount: bigint; stale: boolean }
  | { t: 'stake' | 'unstake'; from: number; amount: bigint }
  | { t: 'authorize'; from: number; provider: number; tokens: bigint; free: boolean; ttl: number }
  | { t: 'capture'; hold: number; tokens: bigint; byOther: boolean }
  | { t: 'release' | 'refund'; hold: number; byUser: boolean; amount: bigint }
  | { t: 'replay'; which: number }
  | { t: 'tick'; ms: number };

const amount = fc.oneof(fc.bigInt(0n, bly(3)), fc.constantFrom(0n, 1n, 2n ** 128n, bly(1000)));
const who = fc.integer({ min: 0, max: USERS.length - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('grant' as const), to: who, amount: fc.bigInt(1n, bly(5)) }),
  fc.record({ t: fc.constant('transfer' as const), from: who, to: who, amount, stale: fc.boolean() }),
  fc.record({ t: fc.constantFrom('stake' as const, 'unstake' as const), from: who, amount }),
  fc.record({ t: fc.constant('unstake' as const), from: who, amount: fc.bigInt(1n, 10n ** 15n) }),
  fc.record({ t: fc.constant('authorize' as const), from: who, provider: who, tokens: fc.bigInt(1n, 5000n), free: fc.boolean(), ttl: fc.integer({ min: 1, max: 600_000 }) }),
  fc.record({ t: fc.constant('capture' as const), hold: fc.nat(20), tokens: fc.bigInt(0n, 6000n), byOther: fc.boolean() }),
  fc.record({ t: fc.constant('capture' as const), hold: fc.constant(-1), tokens: fc.bigInt(0n, 600n), byOther: fc.constant(false) }),
  fc.record({ t: fc.constantFrom('release' as const, 'refund' as const), hold: fc.nat(20), byUser: fc.boolean(), amount }),
  fc.record({ t: fc.constant('refund' as const), hold: fc.constant(-1), byUser: fc.constant(false), amount: fc.bigInt(1n, 10n ** 16n) }),
  fc.record({ t: fc.constant('replay' as const), which: fc.nat(50) }),
  fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 400_000 }) }),
);

interface Model {
  nonces: Map<Hex20, bigint>;
  holds: { quoteId: Hex32; user: number; provider: number }[];
  sent: AnyTx[];
  time: number;
}

/** Turns an op into a signed tx (or a clock tick). Nonces come from the model: sometimes stale on purpose. */
function toTx(o: Op, m: Model, account: (a: Hex20) => bigint, holdState: (q: Hex32) => string | undefined = () => undefined): AnyTx | undefined {
  const nonce = (u: User) => account(u.addr);
  const u = (i: number) => USERS[i] as User;
  switch (o.t) {
    case 'tick':
      m.time += o.ms;
      return undefined;
    case 'grant':
      return sign(AUTHORITY, 'Grant', { to: u(o.to).addr, amount: o.amount, nonce: nonce(AUTHORITY) });
    case 'transfer': {
      const n = nonce(u(o.from));
      return sign(u(o.from), 'Transfer', { to: u(o.to).addr, amount: o.amount, nonce: o.stale && n > 0n ? n - 1n : n });
    }
    case 'stake':
      return sign(u(o.from), 'Stake', { amount: o.amount, nonce: nonce(u(o.from)) });
    case 'unstake':
      return sign(u(o.from), 'Unstake', { amount: o.amount, nonce: nonce(u(o.from)) });
    case 'authorize': {
      const q = makeQuote({ provider: u(o.provider).addr, maxTokens: o.tokens, now: m.time, ttlMs: o.ttl, free: o.free }, PARAMS);
      m.holds.push({ quoteId: q.quoteId, user: o.from, provider: o.provider });
      return sign(u(o.from), 'Authorize', authorizeMessage(q, u(o.from).addr, nonce(u(o.from))));
    }
    case 'capture': {
      const h = o.hold < 0 ? m.holds.findLast((x) => holdState(x.quoteId) === 'authorized') : m.holds[m.holds.length - 1 - (o.hold % Math.max(1, m.holds.length))];
      if (h === undefined) return undefined;
      const signer = o.byOther ? u((h.provider + 1) % USERS.length) : u(h.provider);
      return sign(signer, 'Capture', { quoteId: h.quoteId, tokensUsed: o.tokens, nonce: nonce(signer) });
    }
    case 'release':
    case 'refund': {
      const h = o.hold < 0 ? m.holds.findLast((x) => holdState(x.quoteId) === 'credited') : m.holds[m.holds.length - 1 - (o.hold % Math.max(1, m.holds.length))];
      if (h === undefined) return undefined;
      const signer = o.byUser ? u(h.user) : u(h.provider);
      return o.t === 'release'
        ? sign(signer, 'Release', { quoteId: h.quoteId, nonce: nonce(signer) })
        : sign(signer, 'Refund', { quoteId: h.quoteId, amount: o.amount, nonce: nonce(signer) });
    }
    case 'replay':
      return m.sent.length === 0 ? undefined : m.sent[o.which % m.sent.length];
  }
}

/** A hold's state, with credited-but-free holds told apart (nothing to refund there). */
function holdTag(h: Hold | undefined, now: number): string | undefined {
  if (h === undefined) return undefined;
  if (h.state === 'authorized' && h.expiresAt <= BigInt(now)) return 'expired';
  return h.state === 'credited' && h.credited === 0n ? 'credited-free' : h.state;
}

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

test('LMDB ledger: random operation sequences leave an audit that passes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
      const env = freshLedger();
      try {
        const m: Model = { nonces: new Map(), holds: [], sent: [], time: T0 };
        const funding: Op[] = USERS.map((_, i) => ({ t: 'grant', to: i, amount: bly(10) }));
        for (const o of [...funding, ...ops]) {
          env.clock.now = m.time;
          const tx = toTx(o, m, (a) => env.ledger.store.account(a)?.nonce ?? 0n, (q) => holdTag(env.ledger.store.hold(q), m.time));
          if (tx === undefined) continue;
          try {
            await env.ledger.submit(tx, { idempotencyKey: `k${m.sent.length}-${Math.random()}` });
            m.sent.push(tx);
          } catch (err) {
            assert.ok(err instanceof BlyanError, `typed error, got ${String(err)}`);
          }
        }
        const report = auditLedger(env.store, env.ledger.store);
        assert.equal(report.debits, report.credits);
      } finally {
        await env.close();
      }
    }),
    { numRuns: 12 },
  );
});
