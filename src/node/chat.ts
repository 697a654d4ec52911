import { toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import type { ModelEntry } from '../engine/modelRegistry.ts';
import { Sampler, type SamplingOptions } from '../engine/sampler.ts';
import { BlyanError } from '../errors.ts';
import { chatStream } from './chatStream.ts';
import type { EngineHost } from './engineHost.ts';
import { StopText } from './stopText.ts';

export interface ChatRequest {
  readonly prompt: string;
  readonly model?: string | undefined;
  readonly maxTokens: number;
  readonly sampling: SamplingOptions;
  readonly stop?: readonly string[] | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Most tokens, prompt included, the answer may use (a paid quote's size); maxTokens is cut to fit. */
  readonly tokenBudget?: number | undefined;
}

/** Where an answer stands when a token is delivered. */
export interface ChatProgress {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/** One routed expert: its component name and the block of the version that ran. */
export interface ExpertRef {
  readonly expert: string;
  readonly block: string | null;
}

export type FinishReason = 'stop' | 'length' | 'cancelled';

export interface ChatToken {
  /** null for the held-back text flushed at the end. */
  readonly id: number | null;
  /** Text to append to what was emitted so far (may be empty while a character or stop string is pending). */
  readonly delta: string;
  /** [layer][k]. */
  readonly experts: ExpertRef[][];
}

export interface ChatResult {
  readonly model: { readonly name: string; readonly hash: string };
  readonly text: string;
  readonly tokens: number[];
  /** Per generated token, per layer, the experts that produced it. */
  readonly experts: ExpertRef[][][];
  readonly usage: { readonly promptTokens: number; readonly completionTokens: number; readonly totalTokens: number };
  readonly finishReason: FinishReason;
}

function expertNamer(store: BlockStore, entry: ModelEntry): (layer: number, e: number) => ExpertRef {
  const memo = new Map<string, ExpertRef>();
  return (layer, e) => {
    const expert = `layer${layer}.expert${e}`;
    let ref = memo.get(expert);
    if (ref === undefined) {
      const id = store.currentVersion(entry.id, expert);
      ref = { expert, block: id === undefined ? null : toHex(id) };
      memo.set(expert, ref);
    }
    return ref;
  };
}

/**
 * A prompt in, an answer out, with the experts (and their blocks) behind every token. `onToken` sees each
 * token as it comes (for streaming); it may be async, and generation waits for it (back-pressure).
 */
export async function runChat(host: EngineHost, store: BlockStore, req: ChatRequest, onToken?: (t: ChatToken, at: ChatProgress) => void | Promise<void>): Promise<ChatResult> {
  const sampler = new Sampler(req.sampling);
  return host.run(req.model, async ({ entry, model, tokenizer }, exclusive) => {
    if (tokenizer === null) throw new BlyanError('ENGINE_BAD_INPUT', `model ${entry.meta.name} has no tokenizer, so it cannot take text prompts`);
    const prompt = tokenizer.encode(req.prompt);
    if (prompt.length === 0) throw new BlyanError('ENGINE_BAD_INPUT', 'the prompt encodes to no tokens');
    const context = entry.meta.config.maxPositions;
    if (prompt.length >= context) throw new BlyanError('ENGINE_CONTEXT_OVERFLOW', `the prompt is ${prompt.length} tokens; the model's context is ${context}`);
    let maxTokens = req.maxTokens;
    if (req.tokenBudget !== undefined) {
      if (prompt.length >= req.tokenBudget) {
        throw new BlyanError('QUOTE_TOO_SMALL', `the prompt alone is ${prompt.length} tokens; the quote covers ${req.tokenBudget}: ask for a larger quote`, { promptTokens: prompt.length });
      }
      maxTokens = Math.min(maxTokens, req.tokenBudget - prompt.length);
    }
    const eos = entry.meta.config.eosTokenIds;
    const name = expertNamer(store, entry);
    const stop = new StopText(req.stop ?? []);
    const tokens: number[] = [];
    const experts: ExpertRef[][][] = [];
    let finishReason: FinishReason = 'length';
    for await (const step of chatStream(model, prompt, sampler, { maxTokens, stopIds: eos, signal: req.signal, exclusive })) {
      const refs = step.experts.map((layer, l) => layer.map((e) => name(l, e)));
      tokens.push(step.id);
      experts.push(refs);
      const isEos = eos.includes(step.id);
      const text = tokenizer.decode(isEos ? tokens.slice(0, -1) : tokens);
      const delta = stop.feed(text);
      await onToken?.({ id: step.id, delta, experts: refs }, { promptTokens: prompt.length, completionTokens: tokens.length });
      if (isEos || stop.stopped) {
        finishReason = 'stop';
        break;
      }
    }
    if (req.signal?.aborted === true) finishReason = 'cancelled';
    const tail = stop.flush();
    if (tail !== '' && onToken !== undefined) await onToken({ id: null, delta: tail, experts: [] }, { promptTokens: prompt.length, completionTokens: tokens.length });
    return {
      model: { name: entry.meta.name, hash: entry.idHex },
      text: stop.result,
      tokens,
      experts,
      usage: { promptTokens: prompt.length, completionTokens: tokens.length, totalTokens: prompt.length + tokens.length },
      finishReason,
    };
  });
}
