import type { Quote } from '../ledger/pricing.ts';
import type { Hex20 } from '../ledger/systemAccounts.ts';
import type { Hex32 } from '../ledger/txTypes.ts';

/** A quote this node offered, with who it was for and the nonce their Authorize must carry. */
export interface OfferedQuote {
  readonly quote: Quote;
  readonly user: Hex20;
  readonly nonce: bigint;
}

/**
 * Quotes offered and not yet used. A quote is only an offer (nothing on chain until the user signs its
 * Authorize); it is forgotten when used or expired, and the book is bounded so unsigned quotes cannot
 * fill memory.
 */
export class QuoteBook {
  private readonly quotes = new Map<Hex32, OfferedQuote>();

  constructor(private readonly max = 100_000) {}

  add(q: OfferedQuote, now: number): void {
    if (this.quotes.size >= this.max) this.sweep(now);
    if (this.quotes.size >= this.max) {
      const oldest = this.quotes.keys().next().value;
      if (oldest !== undefined) this.quotes.delete(oldest);
    }
    this.quotes.set(q.quote.quoteId, q);
  }

  /** Removes and returns the quote, if it is still open. */
  take(id: Hex32, now: number): OfferedQuote | undefined {
    const q = this.quotes.get(id);
    if (q === undefined) return undefined;
    this.quotes.delete(id);
    return q.quote.expiresAt > BigInt(now) ? q : undefined;
  }

  private sweep(now: number): void {
    for (const [id, q] of this.quotes) if (q.quote.expiresAt <= BigInt(now)) this.quotes.delete(id);
  }
}
