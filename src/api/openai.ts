import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { SamplingOptions } from '../engine/sampler.ts';
import type { ChatResult, FinishReason } from '../node/chat.ts';

/** The OpenAI chat-completions request fields we honour; unknown fields are ignored, as OpenAI clients send many. */
export const ChatCompletionBody = z.object({
  model: z.string().min(1).max(200).optional(),
  messages: z
    .array(
      z.object({
        role: z.enum(['system', 'developer', 'user', 'assistant']),
        content: z.union([z.string().max(100_000), z.array(z.object({ type: z.literal('text'), text: z.string().max(100_000) })).max(64)]),
      }),
    )
    .min(1)
    .max(256),
  max_tokens: z.number().int().min(1).max(4096).nullish(),
  max_completion_tokens: z.number().int().min(1).max(4096).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
  stop: z.union([z.string().min(1).max(100), z.array(z.string().min(1).max(100)).max(4)]).nullish(),
  stream: z.boolean().nullish(),
  n: z.literal(1).nullish(),
});
export type ChatCompletionBody = z.infer<typeof ChatCompletionBody>;

export const DEFAULT_MAX_TOKENS = 256;

/**
 * Messages → one prompt. The on-chain models have no chat template yet: the contents are joined by new
 * lines, and a new line ends the prompt, as `blyan chat` does.
 */
export function promptOf(body: ChatCompletionBody): string {
  const text = (c: ChatCompletionBody['messages'][number]['content']) => (typeof c === 'string' ? c : c.map((p) => p.text).join(''));
  return `${body.messages.map((m) => text(m.content)).join('\n')}\n`;
}

export function samplingOf(body: ChatCompletionBody): SamplingOptions {
  return { temperature: body.temperature ?? 1, topP: body.top_p ?? 1, seed: body.seed ?? 0 };
}

export function stopOf(body: ChatCompletionBody): string[] | undefined {
  return body.stop === undefined || body.stop === null ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop;
}

export function completionId(): string {
  return `chatcmpl-${randomUUID().replaceAll('-', '')}`;
}

function finish(r: FinishReason): 'stop' | 'length' {
  return r === 'length' ? 'length' : 'stop';
}

export function completion(id: string, created: number, r: ChatResult) {
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model: r.model.name,
    choices: [{ index: 0, message: { role: 'assistant' as const, content: r.text, refusal: null }, logprobs: null, finish_reason: finish(r.finishReason) }],
    usage: { prompt_tokens: r.usage.promptTokens, completion_tokens: r.usage.completionTokens, total_tokens: r.usage.totalTokens },
  };
}

export function chunk(id: string, created: number, model: string, delta: { role?: 'assistant'; content?: string }, finishReason: FinishReason | null) {
  return {
    id,
    object: 'chat.completion.chunk' as const,
    created,
    model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason === null ? null : finish(finishReason) }],
  };
}
