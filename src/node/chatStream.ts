import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { MoeModel } from '../engine/moe.ts';
import type { Sampler } from '../engine/sampler.ts';

export interface ChatStep {
  /** The sampled token. */
  readonly id: number;
  /** Experts of the forward pass whose logits gave this token: [layer][k] (empty for dense layers). */
  readonly experts: number[][];
}

export interface ChatStreamOptions {
  readonly maxTokens: number;
  /** Runs each forward pass with the kernels to itself (EngineHost's lock); default: directly. */
  readonly exclusive?: <T>(step: () => Promise<T>) => Promise<T>;
  readonly stopIds: readonly number[];
  readonly signal?: AbortSignal | undefined;
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function lastToken(experts: number[][][]): number[][] {
  return experts.map((layer) => layer.at(-1) ?? []);
}

/**
 * Token-by-token generation on a fresh session. The event loop gets a turn between tokens so that
 * other requests' I/O is not held up by a long answer. Ends after an end-of-sequence token (which is
 * yielded), at maxTokens, when the context is full, or when the signal aborts.
 */
export async function* chatStream(model: MoeModel, prompt: readonly number[], sampler: Sampler, opts: ChatStreamOptions): AsyncGenerator<ChatStep> {
  // A request may have been cancelled while it waited for the engine.
  if (aborted(opts.signal)) return;
  const session = model.newSession();
  const context = [...prompt];
  const exclusive = opts.exclusive ?? ((step) => step());
  let r = await exclusive(() => session.forward(prompt));
  for (let i = 0; i < opts.maxTokens; i++) {
    if (aborted(opts.signal)) return;
    const id = sampler.sample(r.logits, context);
    context.push(id);
    yield { id, experts: lastToken(r.experts) };
    if (opts.stopIds.includes(id) || session.remaining === 0 || i + 1 === opts.maxTokens) return;
    await yieldToLoop();
    if (aborted(opts.signal)) return;
    r = await exclusive(() => session.forward([id]));
  }
}
