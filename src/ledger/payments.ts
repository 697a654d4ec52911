import { BlyanError } from '../errors.ts';
import { MAX_AMOUNT } from './amount.ts';
import { useFreeQuota } from './freeTier.ts';
import type { StateOverlay } from './overlay.ts';
import type { LedgerParams } from './params.ts';
import { burnOf, priceOf } from './pricing.ts';
import type { Hold } from './state.ts';
import { systemAccountName, SYSTEM } from './systemAccounts.ts';
import type { Hex32, MessageOf } from './txTypes.ts';

/**
 * The query payment state machine (docs/ledger.md §7):
 *
 *   quote (off-chain) ──Authorize──► authorized ──Capture──► credited ──Refund──► refunded
 *                                        │
 *                                        └──Release──► released   (provider any time; user after expiry)
 */

function holdOf(o: StateOverlay, quoteId: Hex32): Hold {
  const h = o.hold(quoteId);
  if (h === undefined) throw new BlyanError('LEDGER_UNKNOWN_HOLD', `no authorization for quote ${quoteId}`, { quoteId });
  return h;
}

function wrongState(h: Hold, action: string): never {
  throw new BlyanError('LEDGER_HOLD_STATE', `quote ${h.quoteId} is ${h.state}; it cannot be ${action}`, { quoteId: h.quoteId, state: h.state });
}

export function applyAuthorize(o: StateOverlay, m: MessageOf<'Authorize'>, txId: Hex32, p: LedgerParams): void {
  // Q1 — a quote id is used once: it is the payment's idempotency key.
  if (o.hold(m.quoteId) !== undefined) {
    throw new BlyanError('LEDGER_DUPLICATE_QUOTE', `quote ${m.quoteId} was already authorized`, { quoteId: m.quoteId });
  }
  // Q2 — not expired, and not open longer than the network allows.
  const now = BigInt(o.time);
  if (m.expiresAt <= now) {
    throw new BlyanError('LEDGER_QUOTE_EXPIRED', `quote ${m.quoteId} expired at ${m.expiresAt} (block time ${o.time})`, { quoteId: m.quoteId });
  }
  if (m.expiresAt > now + BigInt(p.pricing.maxQuoteTtlMs)) {
    throw new BlyanError('LEDGER_BAD_QUOTE', `quote ${m.quoteId} stays open longer than ${p.pricing.maxQuoteTtlMs} ms`);
  }
  // Q3 — a real provider and a bounded size.
  if (systemAccountName(m.provider) !== undefined || m.provider === m.from) {
    throw new BlyanError('LEDGER_BAD_QUOTE', 'the provider must be another user account', { provider: m.provider });
  }
  if (m.maxTokens === 0n || m.maxTokens > p.pricing.maxTokensPerQuery) {
    throw new BlyanError('LEDGER_BAD_QUOTE', `a query is 1 … ${p.pricing.maxTokensPerQuery} tokens`);
  }
  const free = m.amount === 0n;
  if (free) {
    // Q4 — free tier: small requests only, counted against today's quota in this same step.
    if (m.maxTokens > p.freeTier.maxTokensPerRequest) {
      throw new BlyanError('LEDGER_BAD_QUOTE', `a free request is at most ${p.freeTier.maxTokensPerRequest} tokens`);
    }
    useFreeQuota(o, m.from, p);
  } else {
    // Q5 — the amount is the network price of maxTokens, moved to escrow.
    if (m.amount > MAX_AMOUNT) throw new BlyanError('LEDGER_AMOUNT_OVERFLOW', 'authorized amount exceeds the largest allowed value');
    const price = priceOf(m.maxTokens, p);
    if (m.amount !== price) {
      throw new BlyanError('LEDGER_BAD_QUOTE', `${m.maxTokens} tokens cost ${price} units, not ${m.amount}`, { price: price.toString() });
    }
    o.post('authorize', m.from, SYSTEM.escrow, m.amount);
  }
  o.setHold({
    quoteId: m.quoteId,
    user: m.from,
    provider: m.provider,
    maxTokens: m.maxTokens,
    amount: m.amount,
    expiresAt: m.expiresAt,
    state: 'authorized',
    free,
    tokensUsed: 0n,
    charged: 0n,
    burned: 0n,
    credited: 0n,
    refunded: 0n,
    authorizeTx: txId,
    settleTx: null,
  });
}

export function applyCapture(o: StateOverlay, m: MessageOf<'Capture'>, txId: Hex32, p: LedgerParams): void {
  const h = holdOf(o, m.quoteId);
  if (m.from !== h.provider) throw new BlyanError('LEDGER_NOT_AUTHORIZED', `only the provider ${h.provider} may capture quote ${h.quoteId}`);
  if (h.state !== 'authorized') wrongState(h, 'captured');
  // C1 — within the quote's life.
  if (BigInt(o.time) >= h.expiresAt) throw new BlyanError('LEDGER_QUOTE_EXPIRED', `quote ${h.quoteId} expired at ${h.expiresAt}; release it instead`, { quoteId: h.quoteId });
  // C2 — never more than was authorized.
  const fee = h.free ? 0n : priceOf(m.tokensUsed, p);
  if (m.tokensUsed > h.maxTokens || fee > h.amount) {
    throw new BlyanError('LEDGER_CAPTURE_EXCEEDS_AUTH', `capture of ${m.tokensUsed} tokens exceeds the ${h.maxTokens} authorized`, {
      quoteId: h.quoteId,
      tokensUsed: m.tokensUsed.toString(),
      maxTokens: h.maxTokens.toString(),
    });
  }
  // C3 — fee to the provider less the burn; the rest of the hold back to the user.
  const burned = burnOf(fee, p);
  o.post('capture', SYSTEM.escrow, h.provider, fee - burned);
  o.post('burn', SYSTEM.escrow, SYSTEM.burn, burned);
  o.post('release', SYSTEM.escrow, h.user, h.amount - fee);
  o.setHold({ ...h, state: 'credited', tokensUsed: m.tokensUsed, charged: fee, burned, credited: fee - burned, settleTx: txId });
}

export function applyRelease(o: StateOverlay, m: MessageOf<'Release'>, txId: Hex32): void {
  const h = holdOf(o, m.quoteId);
  // R1 — the provider may release at any time (a failed inference); the user once the quote has expired.
  const mayRelease = m.from === h.provider || (m.from === h.user && BigInt(o.time) >= h.expiresAt);
  if (!mayRelease) {
    throw new BlyanError('LEDGER_NOT_AUTHORIZED', `${m.from} may not release quote ${h.quoteId} now (the provider may; the user after ${h.expiresAt})`);
  }
  if (h.state !== 'authorized') wrongState(h, 'released');
  o.post('release', SYSTEM.escrow, h.user, h.amount);
  o.setHold({ ...h, state: 'released', settleTx: txId });
}

export function applyRefund(o: StateOverlay, m: MessageOf<'Refund'>): void {
  const h = holdOf(o, m.quoteId);
  if (m.from !== h.provider) throw new BlyanError('LEDGER_NOT_AUTHORIZED', `only the provider ${h.provider} may refund quote ${h.quoteId}`);
  if (h.state !== 'credited' && h.state !== 'refunded') wrongState(h, 'refunded');
  if (m.amount === 0n) throw new BlyanError('LEDGER_BAD_AMOUNT', 'refund amount must be greater than zero', { reason: 'zero' });
  // F1 — at most what the provider was credited for this quote, over all refunds.
  if (h.refunded + m.amount > h.credited) {
    throw new BlyanError('LEDGER_BAD_AMOUNT', `refund of ${m.amount} exceeds the ${h.credited - h.refunded} units left to refund`, { reason: 'exceeds-credited' });
  }
  o.post('refund', h.provider, h.user, m.amount);
  o.setHold({ ...h, state: 'refunded', refunded: h.refunded + m.amount });
}
