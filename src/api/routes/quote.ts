import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { identify, requireAddress, requireScope } from '../auth/identify.ts';
import type { ApiDeps } from '../deps.ts';
import { parse } from '../validate.ts';
import { display } from './wallet.ts';

const QuoteBody = z.strictObject({
  /** Tokens to authorize: the prompt's plus the answer's. Unused tokens are never charged. */
  maxTokens: z.number().int().min(1).max(1_000_000),
});

/**
 * `POST /chat/quote`: an offer for one paid (or ledger-free) answer. The user signs `typedData` (an
 * EIP-712 Authorize) and sends `quoteId` + `signature` with the chat request; the node then escrows the
 * amount, answers, and captures only the tokens used.
 */
export function quoteRoutes(app: FastifyInstance, { billing, credentials }: ApiDeps): void {
  app.post('/chat/quote', async (req) => {
    const id = identify(req, credentials);
    requireScope(id, 'chat');
    const user = requireAddress(id);
    const { maxTokens } = parse(QuoteBody, req.body, 'body');
    const offer = await billing.offer(user, maxTokens);
    return { ...offer, provider: display(offer.provider), pricePer1kTokens: billing.paramsNow().pricing.perKiloToken.toString(), burnBps: billing.paramsNow().pricing.burnBps.toString() };
  });
}
