import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { identify } from '../auth/identify.ts';
import type { ApiDeps } from '../deps.ts';
import { meteredChat, PaymentFields, paymentOf } from '../meteredChat.ts';
import { requestSignal, type SseWriter, startSse } from '../sse.ts';
import { parse } from '../validate.ts';
import { MAX_NEW_TOKENS, MAX_PROMPT_CHARS } from './chat.ts';

const StreamQuery = z.strictObject({
  prompt: z.string().min(1).max(MAX_PROMPT_CHARS),
  model: z.string().min(1).max(200).optional(),
  maxTokens: z.coerce.number().int().min(1).max(MAX_NEW_TOKENS).default(64),
  temperature: z.coerce.number().min(0).max(10).optional(),
  topP: z.coerce.number().gt(0).max(1).optional(),
  seed: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  ...PaymentFields,
});

/**
 * `GET /chat/stream?prompt=…` (SSE, usable from a browser's EventSource): `stream_start`, one `token` event
 * per token with its text, experts, the rate and the cost so far, then `stream_end` with usage, cost and receipt.
 */
export function chatStreamRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/chat/stream', async (req, reply) => {
    const q = parse(StreamQuery, req.query, 'query');
    const id = identify(req, deps.credentials);
    const payment = paymentOf(q);
    const sampling = { temperature: q.temperature ?? 0.8, topP: q.topP ?? (q.temperature === undefined ? 0.95 : 1), seed: q.seed ?? 0 };
    let sse: SseWriter | undefined;
    let count = 0;
    let t0 = 0;
    try {
      const request = { prompt: q.prompt, model: q.model, maxTokens: q.maxTokens, sampling, signal: requestSignal(reply, deps.shutdown) };
      const a = await meteredChat(deps, 'stream', id, payment, request, async (t, at) => {
        if (sse === undefined) {
          sse = startSse(reply);
          t0 = performance.now();
          await sse.send({ maxTokens: q.maxTokens, promptTokens: at.promptTokens, quote: at.quote }, 'stream_start');
        }
        if (t.id !== null) count++;
        const seconds = (performance.now() - t0) / 1000;
        await sse.send({ id: t.id, text: t.delta, experts: t.experts, tokens: count, tokensPerSecond: seconds > 0 ? count / seconds : null, cost: at.cost.toString() }, 'token');
      });
      sse ??= startSse(reply);
      const r = a.result;
      await sse.send({ model: r.model, text: r.text, usage: r.usage, finishReason: r.finishReason, quote: a.quote, cost: a.settlement.cost, receipt: a.receipt }, 'stream_end');
      sse.end();
    } catch (err) {
      if (sse === undefined) throw err;
      await sse.send({ code: 'STREAM_FAILED', message: err instanceof Error ? err.message : String(err) }, 'error');
      sse.end();
    }
    return reply;
  });
}
