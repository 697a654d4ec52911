import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { SamplingOptions } from '../../engine/sampler.ts';
import { identify } from '../auth/identify.ts';
import type { ApiDeps } from '../deps.ts';
import { meteredChat, PaymentFields, paymentOf } from '../meteredChat.ts';
import { requestSignal } from '../sse.ts';
import { parse } from '../validate.ts';

export const MAX_PROMPT_CHARS = 100_000;
export const MAX_NEW_TOKENS = 4096;

const ChatBody = z.strictObject({
  prompt: z.string().min(1).max(MAX_PROMPT_CHARS),
  model: z.string().min(1).max(200).optional(),
  maxTokens: z.number().int().min(1).max(MAX_NEW_TOKENS).default(64),
  temperature: z.number().min(0).max(10).optional(),
  topP: z.number().gt(0).max(1).optional(),
  topK: z.number().int().min(0).optional(),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  stop: z.array(z.string().min(1).max(100)).max(4).optional(),
  ...PaymentFields,
});

/** `POST /chat`: the answer, the experts (and their blocks) behind every token, and usage. */
export function chatRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/chat', async (req, reply) => {
    const body = parse(ChatBody, req.body, 'body');
    const id = identify(req, deps.credentials);
    const payment = paymentOf(body);
    // Without settings, the same defaults as `blyan chat`.
    const sampling: SamplingOptions = {
      temperature: body.temperature ?? 0.8,
      topP: body.topP ?? (body.temperature === undefined ? 0.95 : 1),
      ...(body.topK === undefined ? {} : { topK: body.topK }),
      seed: body.seed ?? 0,
    };
    const { result, quote, settlement, receipt } = await meteredChat(deps, 'chat', id, payment, {
      prompt: body.prompt,
      model: body.model,
      maxTokens: body.maxTokens,
      sampling,
      stop: body.stop,
      signal: requestSignal(reply, deps.shutdown),
    });
    return { ...result, quote, cost: settlement.cost, receipt };
  });
}
