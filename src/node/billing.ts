import { BlyanError, isBlyanError } from '../errors.ts';
import { dayOf, freeQuotaLeft, trustLevelOf } from '../ledger/freeTier.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { LedgerStore } from '../ledger/ledgerStore.ts';
import type { LedgerParams } from '../ledger/params.ts';
import { authorizeMessage, burnOf, makeQuote, priceOf } from '../ledger/pricing.ts';
import type { Hex20 } from '../ledger/systemAccounts.ts';
import { ledgerDomain, signTx, toHex0x, txDigest } from '../ledger/tx.ts';
import { TX_TYPES, type Hex32 } from '../ledger/txTypes.ts';
import { txFromJson } from '../ledger/txCodec.ts';
import { FreeAllowance } from './freeAllowance.ts';
import { type Identity, identityKey } from './identity.ts';
import { NonceBook } from './nonceBook.ts';
import type { NodeKey } from './nodeKey.ts';
import { QuoteBook } from './quoteBook.ts';

/** A signed acceptance of a quote: the user's EIP-712 signature over the Authorize the quote describes. */
export interface PaymentAuth {
  readonly quoteId: Hex32;
  readonly signature: string;
}

/** What a client is shown before an answer starts (SSE `stream_start`, POST /chat). Amounts in base units. */
export interface QuoteView {
  readonly quoteId: Hex32 | null;
  readonly free: boolean;
  readonly maxTokens: number | null;
  readonly maxCost: string;
  readonly pricePer1kTokens: string;
}

export interface CostView {
  readonly charged: string;
  readonly burned: string;
  readonly free: boolean;
  readonly tokens: number;
}

export interface Settlement {
  readonly cost: CostView;
  readonly captureTx: Hex32 | null;
}

/** One answer's payment, open from before the first token until settle() or fail(). */
export interface Meter {
  readonly quote: QuoteView;
  /** Most tokens (prompt + completion) the answer may use; undefined when only maxTokens limits it. */
  readonly tokenBudget: number | undefined;
  /** Cumulative cost, in base units, of an answer that has used `tokens` tokens so far. */
  costOf(tokens: number): bigint;
  /** Charges for what was produced (prompt + completion tokens); an answer with no token is not charged. */
  settle(promptTokens: number, completionTokens: number): Promise<Settlement>;
  /** The answer failed: nothing is charged, not even the free-tier count. */
  fail(): Promise<void>;
}

export interface QuoteOffer {
  readonly quoteId: Hex32;
  readonly provider: Hex20;
  readonly free: boolean;
  readonly amount: string;
  readonly maxTokens: string;
  readonly expiresAt: string;
  readonly nonce: string;
  /** Exactly what the user signs with eth_signTypedData_v4 / viem's signTypedData. */
  readonly typedData: {
    readonly domain: { name: string; version: string; chainId: number };
    readonly types: { Authorize: (typeof TX_TYPES)['Authorize'] };
    readonly primaryType: 'Authorize';
    readonly message: Record<string, string>;
  };
}

export interface BillingOptions {
  /** Requests per UTC day without a signed payment, for a caller with no address (per IP). 0 = none. */
  readonly anonymousDailyQuota: number;
  readonly now?: () => number;
}

/**
 * Charges for answers (docs/api.md "Payments"). Two ways to be served:
 *  - signed: the user accepted one of this node's quotes by signing its Authorize; the node submits it
 *    (funds to escrow, or the ledger's free tier for an amount-0 quote), answers, and captures exactly the
 *    tokens produced, or releases everything if the answer failed;
 *  - unsigned: the node's own daily free tier, per address (sessions, API keys: the quota of the address's
 *    trust level) or per IP for anonymous callers; nothing moves on the ledger.
 */
export class Billing {
  private readonly quotes = new QuoteBook();
  private readonly nonces: NonceBook;
  private readonly allowance: FreeAllowance;
  private readonly now: () => number;
  /** Chain id and the preset's parameters; what is in force at a time comes from paramsNow(). */
  readonly params: LedgerParams;

  constructor(
    readonly ledger: Ledger<LedgerStore>,
    private readonly key: NodeKey,
    private readonly opts: BillingOptions,
  ) {
    this.params = ledger.params;
    this.nonces = new NonceBook((a) => ledger.account(a));
    this.allowance = new FreeAllowance(ledger.blocks);
    this.now = opts.now ?? Date.now;
  }

  /** The economic parameters in force now (chain A `params` blocks can change prices, quotas and authorities). */
  paramsNow(): LedgerParams {
    return this.ledger.paramsAt(this.now());
  }

  get provider(): Hex20 {
    return this.key.address;
  }

  /** Signs a transaction as this node (Capture, Release) with the next nonce of its key. */
  private async signAsNode<K extends 'Capture' | 'Release'>(kind: K, message: Omit<Parameters<typeof signTx<K>>[1], 'from' | 'nonce'>) {
    const full = { ...message, from: this.key.address, nonce: await this.nonces.take(this.key.address) } as Parameters<typeof signTx<K>>[1];
    return signTx(kind, full, ledgerDomain(this.params.chainId), this.key.privateKey);
  }

  /** A quote for `maxTokens` tokens (prompt + answer): free while the user's on-chain free tier lasts. */
  async offer(user: Hex20, maxTokens: number): Promise<QuoteOffer> {
    if (user === this.key.address) throw new BlyanError('LEDGER_BAD_QUOTE', 'this node cannot sell to its own address');
    const now = this.now();
    const snap = await this.ledger.read({ accounts: [user], quotaAddrs: [user] });
    const p = this.ledger.paramsAt(now);
    const free = BigInt(maxTokens) <= p.freeTier.maxTokensPerRequest && freeQuotaLeft(snap, user, now, p) > 0;
    const quote = makeQuote({ provider: this.key.address, maxTokens: BigInt(maxTokens), now, free }, p);
    const nonce = await this.nonces.take(user);
    this.quotes.add({ quote, user, nonce }, now);
    const m = authorizeMessage(quote, user, nonce);
    return {
      quoteId: quote.quoteId,
      provider: quote.provider,
      free,
      amount: quote.amount.toString(),
      maxTokens: quote.maxTokens.toString(),
      expiresAt: quote.expiresAt.toString(),
      nonce: nonce.toString(),
      typedData: {
        domain: { ...ledgerDomain(this.params.chainId) },
        types: { Authorize: TX_TYPES.Authorize },
        primaryType: 'Authorize',
        message: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)])),
      },
    };
  }

  /** Free requests left today on the node's own tier for this caller. */
  async allowanceOf(id: Identity): Promise<{ used: number; limit: number; resetsAt: number }> {
    const now = this.now();
    return { used: this.allowance.used(identityKey(id), now), limit: await this.quotaOf(id), resetsAt: (dayOf(now) + 1) * 86_400_000 };
  }

  private async quotaOf(id: Identity): Promise<number> {
    if (id.kind === 'anonymous') return this.opts.anonymousDailyQuota;
    const p = this.paramsNow();
    return p.freeTier.dailyQuota[trustLevelOf(await this.ledger.account(id.address), p)];
  }

  /** Opens the payment of one answer; throws (and charges nothing) if the caller may not be served. */
  async open(id: Identity, payment: PaymentAuth | undefined): Promise<Meter> {
    return payment === undefined ? this.openUnsigned(id) : this.openSigned(id, payment);
  }

  private async openUnsigned(id: Identity): Promise<Meter> {
    const quota = await this.quotaOf(id);
    const now = this.now();
    const key = identityKey(id);
    if (!this.allowance.take(key, quota, now)) {
      const who = id.kind === 'anonymous' ? 'anonymous callers from this address' : 'this account';
      throw new BlyanError('FREE_TIER_EXHAUSTED', `${who} used the ${quota} free requests of today; sign in and pay with a quote (POST /chat/quote), or wait for 00:00 UTC`, { quota });
    }
    const day = dayOf(now);
    let open = true;
    return {
      quote: { quoteId: null, free: true, maxTokens: null, maxCost: '0', pricePer1kTokens: this.paramsNow().pricing.perKiloToken.toString() },
      tokenBudget: undefined,
      costOf: () => 0n,
      settle: async (_p, completion) => {
        if (open && completion === 0) this.allowance.giveBack(key, day);
        open = false;
        return { cost: { charged: '0', burned: '0', free: true, tokens: 0 }, captureTx: null };
      },
      fail: async () => {
        if (open) this.allowance.giveBack(key, day);
        open = false;
      },
    };
  }

  private async openSigned(id: Identity, payment: PaymentAuth): Promise<Meter> {
    const offered = this.quotes.take(payment.quoteId, this.now());
    if (offered === undefined) {
      throw new BlyanError('LEDGER_UNKNOWN_HOLD', `quote ${payment.quoteId} is unknown, used or expired on this node; ask for a new one (POST /chat/quote)`, { quoteId: payment.quoteId });
    }
    const { quote, user, nonce } = offered;
    if (id.kind !== 'anonymous' && id.address !== user) {
      throw new BlyanError('LEDGER_BAD_SIGNATURE', `quote ${quote.quoteId} was offered to ${user}, not to the signed-in ${id.address}`);
    }
    const m = authorizeMessage(quote, user, nonce);
    const tx = txFromJson({ domain: ledgerDomain(this.params.chainId), primaryType: 'Authorize', message: stringify(m), signature: payment.signature });
    try {
      await this.ledger.submit(tx);
    } catch (err) {
      // A follower whose producer did not include the Authorize in time answers nothing; should a block hold it
      // later, the hold is released at once, so an answer not given is never paid for (docs/ledger.md §9.4).
      if (isBlyanError(err, 'LEDGER_PRODUCER_UNREACHABLE')) {
        this.ledger.whenIncluded(toHex0x(txDigest(tx)), () => {
          this.signAsNode('Release', { quoteId: quote.quoteId })
            .then((r) => this.ledger.submit(r))
            .catch(() => undefined);
        });
      }
      throw err;
    }
    const free = quote.amount === 0n;
    const maxTokens = Number(quote.maxTokens);
    // The prices the quote was made with (the Authorize only passed if they are still in force).
    const p = this.paramsNow();
    let open = true;
    const release = async () => {
      if (!open) return;
      open = false;
      await this.ledger.submit(await this.signAsNode('Release', { quoteId: quote.quoteId }));
    };
    return {
      quote: { quoteId: quote.quoteId, free, maxTokens, maxCost: quote.amount.toString(), pricePer1kTokens: p.pricing.perKiloToken.toString() },
      tokenBudget: maxTokens,
      costOf: (tokens) => (free ? 0n : priceOf(BigInt(Math.min(tokens, maxTokens)), p)),
      settle: async (promptTokens, completionTokens) => {
        if (completionTokens === 0) {
          await release();
          return { cost: { charged: '0', burned: '0', free, tokens: 0 }, captureTx: null };
        }
        if (!open) throw new BlyanError('LEDGER_HOLD_STATE', `quote ${quote.quoteId} was already settled`);
        open = false;
        const used = Math.min(promptTokens + completionTokens, maxTokens);
        const capture = await this.signAsNode('Capture', { quoteId: quote.quoteId, tokensUsed: BigInt(used) });
        try {
          await this.ledger.submit(capture);
        } catch (err) {
          // The quote ran out while answering (or the ledger refused): the user keeps the answer and the
          // money; the hold goes back rather than staying locked until expiry. A follower whose producer did not
          // answer does not wait for the Release as well: it goes out in the background.
          open = true;
          const releasing = release().catch(() => undefined);
          if (!isBlyanError(err, 'LEDGER_PRODUCER_UNREACHABLE')) await releasing;
          return { cost: { charged: '0', burned: '0', free, tokens: used }, captureTx: null };
        }
        // What the ledger charged: the Capture applied with the parameters in force at its block's time.
        const h = await this.ledger.hold(quote.quoteId);
        const fee = h?.charged ?? (free ? 0n : priceOf(BigInt(used), p));
        return { cost: { charged: fee.toString(), burned: (h?.burned ?? burnOf(fee, p)).toString(), free, tokens: used }, captureTx: toHex0x(txDigest(capture)) };
      },
      fail: async () => {
        try {
          await release();
        } catch (err) {
          // The answer's own error is what the caller reports; the hold stays in escrow until the Release lands
          // or the quote expires (then the user may release it, rule R1). Nothing was captured.
          if (!isBlyanError(err, 'LEDGER_PRODUCER_UNREACHABLE')) throw err;
        }
      },
    };
  }
}

function stringify(m: object): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
}
