import fc from 'fast-check';
import { authorizeMessage, makeQuote } from '../../src/ledger/pricing.ts';
import type { Hold } from '../../src/ledger/state.ts';
import type { Hex20 } from '../../src/ledger/systemAccounts.ts';
import type { AnyTx } from '../../src/ledger/tx.ts';
import type { Hex32 } from '../../src/ledger/txTypes.ts';
import { AUTHORITY, bly, PARAMS, sign, type User, user } from './helpers.ts';

/** Random ledger operations, valid and invalid, for the property tests (pure in property.test.ts, per store in compliance.ts). */
export const USERS: User[] = ['p0', 'p1', 'p2', 'p3'].map(user);

export type Op =
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
export const op: fc.Arbitrary<Op> = fc.oneof(
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

export interface Model {
  nonces: Map<Hex20, bigint>;
  holds: { quoteId: Hex32; user: number; provider: number }[];
  sent: AnyTx[];
  time: number;
}

/** Turns an op into a signed tx (or a clock tick). Nonces come from the model: sometimes stale on purpose. */
export function toTx(o: Op, m: Model, account: (a: Hex20) => bigint, holdState: (q: Hex32) => string | undefined = () => undefined): AnyTx | undefined {
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
export function holdTag(h: Hold | undefined, now: number): string | undefined {
  if (h === undefined) return undefined;
  if (h.state === 'authorized' && h.expiresAt <= BigInt(now)) return 'expired';
  return h.state === 'credited' && h.credited === 0n ? 'credited-free' : h.state;
}

