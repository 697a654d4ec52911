import { z } from 'zod';
import { BlyanError } from '../errors.ts';
import type { PaymentAuth, QuoteView, Settlement } from '../node/billing.ts';
import { type ChatProgress, type ChatRequest, type ChatResult, type ChatToken, type ExpertRef, runChat } from '../node/chat.ts';
import type { Identity } from '../node/identity.ts';
import type { Hex32 } from '../ledger/txTypes.ts';
import { requireScope } from './auth/identify.ts';
import type { ApiDeps } from './deps.ts';

/** The payment fields a chat request may carry (POST /chat body, GET /chat/stream query, WS start message). */
export const PaymentFields = {
  quoteId: z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a quote id (0x + 64 hex digits)').optional(),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 65-byte 0x-hex signature').optional(),
};

export function paymentOf(p: { quoteId?: string | undefined; signature?: string | undefined }): PaymentAuth | undefined {
  if (p.quoteId === undefined && p.signature === undefined) return undefined;
  if (p.quoteId === undefined || p.signature === undefined) {
    throw new BlyanError('BAD_ARGUMENT', 'quoteId and signature go together: sign the quote from POST /chat/quote and send both');
  }
  return { quoteId: p.quoteId.toLowerCase() as Hex32, signature: p.signature };
}

/** Which blocks produced an answer: every distinct expert version that ran, sorted by name. */
export interface Receipt {
  readonly quoteId: string | null;
  readonly experts: readonly ExpertRef[];
  readonly captureTx: string | null;
}

export interface MeteredAnswer {
  readonly result: ChatResult;
  readonly quote: QuoteView;
  readonly settlement: Settlement;
  readonly receipt: Receipt;
}

export type Endpoint = 'chat' | 'stream' | 'openai' | 'ws';

function receiptOf(result: ChatResult, quoteId: string | null, captureTx: string | null): Receipt {
  const seen = new Map<string, ExpertRef>();
  for (const token of result.experts) for (const layer of token) for (const e of layer) seen.set(`${e.expert}@${e.block}`, e);
  const experts = [...seen.values()].sort((a, b) => a.expert.localeCompare(b.expert, 'en', { numeric: true }));
  return { quoteId, experts, captureTx };
}

/**
 * One answer with its payment: opens the meter (a signed quote, or the free tier), generates, then
 * captures exactly the tokens produced, or releases everything if generation failed, so a failed answer
 * is never charged. `onToken` also gets the cumulative cost. Counts usage and metrics.
 */
export async function meteredChat(
  deps: ApiDeps,
  endpoint: Endpoint,
  id: Identity,
  payment: PaymentAuth | undefined,
  req: ChatRequest,
  onToken?: (t: ChatToken, at: ChatProgress & { cost: bigint; quote: QuoteView }) => void | Promise<void>,
): Promise<MeteredAnswer> {
  requireScope(id, 'chat');
  const meter = await deps.billing.open(id, payment);
  const t0 = performance.now();
  let first: number | undefined;
  let result: ChatResult;
  try {
    result = await runChat(deps.engine, deps.store, { ...req, tokenBudget: meter.tokenBudget }, async (t, at) => {
      first ??= performance.now();
      await onToken?.(t, { ...at, cost: meter.costOf(at.promptTokens + at.completionTokens), quote: meter.quote });
    });
  } catch (err) {
    await meter.fail();
    throw err;
  }
  const settlement = await meter.settle(result.usage.promptTokens, result.usage.completionTokens);
  deps.usage.record(result.model.hash, result.experts);
  const m = deps.metrics;
  m.tokens.inc({ endpoint }, result.usage.completionTokens);
  if (first !== undefined) {
    m.timeToFirstToken.observe({ endpoint }, (first - t0) / 1000);
    const secs = (performance.now() - first) / 1000;
    if (result.usage.completionTokens > 1 && secs > 0) m.tokensPerSecond.observe({ endpoint }, (result.usage.completionTokens - 1) / secs);
  }
  m.charged.inc(Number(settlement.cost.charged));
  return { result, quote: meter.quote, settlement, receipt: receiptOf(result, meter.quote.quoteId, settlement.captureTx) };
}
