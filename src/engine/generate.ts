import type { InferenceSession } from './moe.ts';
import type { Sampler } from './sampler.ts';

export interface GenerateResult {
  /** New tokens only. */
  readonly ids: number[];
  /** Routing of every token the session processed in this call: [layer][token][k]. */
  readonly experts: number[][][];
  readonly prefillMs: number;
  readonly decodeMs: number;
}

export interface GenerateOptions {
  readonly maxNewTokens: number;
  readonly stop?: readonly number[];
  readonly onToken?: (id: number) => boolean | undefined;
  /** Recompute the whole sequence at every step instead of using the KV cache (for checks). */
  readonly noCache?: boolean;
  /** Factory of fresh sessions, needed with noCache. */
  readonly newSession?: () => InferenceSession;
}

function appendExperts(all: number[][][], add: number[][][]): void {
  add.forEach((layer, l) => {
    all[l] ??= [];
    (all[l] as number[][]).push(...layer);
  });
}

/**
 * Prefill the prompt, then decode one token at a time through the KV cache. The last generated token is
 * also run through the model, so the session's cache holds the whole conversation (a chat continues
 * from it) and `experts` covers every token of prompt + answer.
 */
export async function generate(session: InferenceSession, prompt: readonly number[], sampler: Sampler, opts: GenerateOptions): Promise<GenerateResult> {
  const experts: number[][][] = [];
  const out: number[] = [];
  const context = [...prompt];
  const t0 = performance.now();
  if (opts.noCache === true) {
    const make = opts.newSession;
    if (make === undefined) throw new Error('noCache needs newSession');
    const capacity = make().remaining;
    let last: number[][][] = [];
    for (let i = 0; i < opts.maxNewTokens; i++) {
      const r = await make().forward(context);
      last = r.experts;
      const id = sampler.sample(r.logits, context);
      out.push(id);
      context.push(id);
      if (opts.onToken?.(id) === false || opts.stop?.includes(id) || context.length > capacity) break;
    }
    // Run the full sequence once more for its routing, unless the last token no longer fits the context.
    appendExperts(experts, context.length <= capacity ? (await make().forward(context)).experts : last);
    return { ids: out, experts, prefillMs: 0, decodeMs: performance.now() - t0 };
  }
  let r = await session.forward(prompt);
  appendExperts(experts, r.experts);
  const prefillMs = performance.now() - t0;
  const t1 = performance.now();
  for (let i = 0; i < opts.maxNewTokens; i++) {
    const id = sampler.sample(r.logits, context);
    out.push(id);
    context.push(id);
    const stop = opts.onToken?.(id) === false || opts.stop?.includes(id) === true;
    // The last token is run too (the cache then holds the whole conversation), when it still fits.
    if (session.remaining === 0) break;
    r = await session.forward([id]);
    appendExperts(experts, r.experts);
    if (stop) break;
  }
  return { ids: out, experts, prefillMs, decodeMs: performance.now() - t1 };
}
