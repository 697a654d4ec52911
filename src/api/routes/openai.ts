import type { FastifyInstance } from 'fastify';
import { listModels, resolveModel } from '../../engine/modelRegistry.ts';
import { identify } from '../auth/identify.ts';
import type { ApiDeps } from '../deps.ts';
import { meteredChat } from '../meteredChat.ts';
import { ChatCompletionBody, chunk, completion, completionId, DEFAULT_MAX_TOKENS, promptOf, samplingOf, stopOf } from '../openai.ts';
import { requestSignal, type SseWriter, startSse } from '../sse.ts';
import { parse } from '../validate.ts';

/** OpenAI-compatible endpoints, so OpenAI clients work against the node unchanged. */
export function openaiRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { store, shutdown } = deps;
  app.get('/v1/models', async () => ({
    object: 'list',
    data: listModels(store).map((m) => ({ id: m.meta.name, object: 'model', created: Math.floor(m.block.header.time / 1000), owned_by: 'blyan', hash: m.idHex })),
  }));

  app.post('/v1/chat/completions', async (req, reply) => {
    const body = parse(ChatCompletionBody, req.body, 'body');
    const who = identify(req, deps.credentials, { anyKeyIsAnonymous: true });
    const entry = resolveModel(store, body.model ?? undefined);
    const id = completionId();
    const created = Math.floor(Date.now() / 1000);
    const request = {
      prompt: promptOf(body),
      model: entry.idHex,
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? DEFAULT_MAX_TOKENS,
      sampling: samplingOf(body),
      stop: stopOf(body),
      signal: requestSignal(reply, shutdown),
    };
    if (body.stream !== true) return completion(id, created, (await meteredChat(deps, 'openai', who, undefined, request)).result);

    // Headers go out with the first token, so a request that fails before it still gets a JSON 4xx.
    let sse: SseWriter | undefined;
    const model = entry.meta.name;
    try {
      const { result: r } = await meteredChat(deps, 'openai', who, undefined, request, async (t) => {
        if (sse === undefined) {
          sse = startSse(reply);
          await sse.send(chunk(id, created, model, { role: 'assistant', content: '' }, null));
        }
        if (t.delta !== '') await sse.send(chunk(id, created, model, { content: t.delta }, null));
      });
      sse ??= startSse(reply);
      await sse.send(chunk(id, created, model, {}, r.finishReason));
      await sse.send('[DONE]');
      sse.end();
    } catch (err) {
      if (sse === undefined) throw err;
      // Mid-stream: the status is already sent; say what happened in the stream, as OpenAI does.
      const message = err instanceof Error ? err.message : String(err);
      await sse.send({ error: { message, type: 'server_error', code: 'STREAM_FAILED' } });
      sse.end();
    }
    return reply;
  });
}
