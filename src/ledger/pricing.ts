import { randomBytes } from 'node:crypto';
import { BlyanError } from '../errors.ts';
import type { LedgerParams } from './params.ts';
import type { Hex20 } from './systemAccounts.ts';
import type { Hex32, MessageOf } from './txTypes.ts';

/**
 * Prices (docs/ledger.md §6): fee = ⌈tokens × perKiloToken / 1000⌉ base units; burn = ⌊fee × burnBps / 10,000⌋.
 * A quote is an unsigned offer; the user turns it into an Authorize transaction by signing it.
 */
export function priceOf(tokens: bigint, p: LedgerParams): bigint {
  return (tokens * p.pricing.perKiloToken + 999n) / 1000n;
}

export function burnOf(fee: bigint, p: LedgerParams): bigint {
  return (fee * p.pricing.burnBps) / 10_000n;
}

export interface Quote {
  readonly quoteId: Hex32;
  readonly provider: Hex20;
  readonly maxTokens: bigint;
  /** 0 when the request is to be served from the free tier. */
  readonly amount: bigint;
  readonly expiresAt: bigint;
}

export interface QuoteRequest {
  readonly provider: Hex20;
  /** Estimated tokens (prompt + completion): what the user authorizes at most. */
  readonly maxTokens: bigint;
  readonly now: number;
  readonly ttlMs?: number;
  readonly free?: boolean;
  /** Defaults to 32 random bytes; a client may pick its own to make retries idempotent. */
  readonly quoteId?: Hex32;
}

export function makeQuote(req: QuoteRequest, p: LedgerParams): Quote {
  const ttl = req.ttlMs ?? p.pricing.maxQuoteTtlMs;
  if (!Number.isSafeInteger(ttl) || ttl <= 0 || ttl > p.pricing.maxQuoteTtlMs) {
    throw new BlyanError('LEDGER_BAD_QUOTE', `quote TTL must be 1 … ${p.pricing.maxQuoteTtlMs} ms`);
  }
  if (req.maxTokens <= 0n || req.maxTokens > p.pricing.maxTokensPerQuery) {
    throw new BlyanError('LEDGER_BAD_QUOTE', `a query is 1 … ${p.pricing.maxTokensPerQuery} tokens`);
  }
  return {
    quoteId: req.quoteId ?? (`0x${randomBytes(32).toString('hex')}` as Hex32),
    provider: req.provider,
    maxTokens: req.maxTokens,
    amount: req.free === true ? 0n : priceOf(req.maxTokens, p),
    expiresAt: BigInt(req.now + ttl),
  };
}

/** The Authorize message a user signs to accept a quote. */
export function authorizeMessage(q: Quote, from: Hex20, nonce: bigint): MessageOf<'Authorize'> {
  return { from, provider: q.provider, quoteId: q.quoteId, maxTokens: q.maxTokens, amount: q.amount, expiresAt: q.expiresAt, nonce };
}
