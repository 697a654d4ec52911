import { BlyanError } from '../errors.ts';
import { type Batch, BatchSampler, fixedBatches } from './batches.ts';
import type { Gemm } from './gemm/types.ts';
import { cloneParams, type MoeParams, setTrainable } from './params.ts';
import { Rng } from './rng.ts';
import { Trainer } from './trainer.ts';

export interface FineTuneOptions {
  /** Base weights (left unchanged: training runs on a copy). */
  readonly params: MoeParams;
  /** Components to train, e.g. ["layer1.expert3"]; everything else stays frozen. */
  readonly experts: readonly string[];
  /** Training tokens (a miner's shard): random windows drawn with `seed`. Either this or `batches`. */
  readonly tokens?: Int32Array;
  /** Explicit training batches, used in order (cycling when steps exceed them). Either this or `tokens`. */
  readonly batches?: readonly Batch[];
  readonly steps: number;
  readonly seed: number;
  readonly gemm: Gemm;
  /** Default 1e-3. */
  readonly lr?: number;
  /** Sequences per step (default 8). */
  readonly batch?: number;
  /** Tokens per sequence (default the params' context). */
  readonly context?: number;
  /** Default 1.0. */
  readonly clip?: number;
  /** Default 0.01. */
  readonly weightDecay?: number;
  /** Fixed batches the before/after loss is measured on (default: 4 evenly spaced batches of `tokens`, or `batches`). */
  readonly measureOn?: readonly Batch[];
  readonly onStep?: (step: number, loss: number) => void;
}

export interface FineTunedTensor {
  /** TensorBlock key: gate, up, down. */
  readonly key: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface FineTuneResult {
  /** The new weights of each trained component, in the order asked. */
  readonly experts: { readonly component: string; readonly tensors: FineTunedTensor[] }[];
  /** Mean cross-entropy on the measurement batches with the base and with the trained weights. */
  readonly lossBefore: number;
  readonly lossAfter: number;
  readonly steps: number;
  readonly tokensSeen: number;
}

/**
 * Fine-tunes the chosen experts (AdamW, clipping) on windows of `tokens` (or the given batches), everything
 * else frozen. Deterministic for (params, experts, data, steps, seed, lr, batch, context) on one machine.
 */
export function fineTune(o: FineTuneOptions): FineTuneResult {
  if (o.experts.length === 0) throw new BlyanError('BAD_ARGUMENT', 'fineTune needs at least one expert to train');
  if (!Number.isSafeInteger(o.steps) || o.steps < 0) throw new BlyanError('BAD_ARGUMENT', `steps must be a whole number ≥ 0, got ${o.steps}`);
  const params = cloneParams(o.params);
  setTrainable(params, o.experts);
  const B = o.batch ?? 8;
  const T = Math.min(o.context ?? params.shape.context, params.shape.context);
  const given = o.batches;
  if ((o.tokens === undefined) === (given === undefined)) throw new BlyanError('BAD_ARGUMENT', 'fineTune needs exactly one of tokens or batches');
  if (given !== undefined && given.length === 0) throw new BlyanError('BAD_ARGUMENT', 'fineTune got an empty list of batches');
  const measure = o.measureOn ?? (o.tokens === undefined ? (given as readonly Batch[]) : fixedBatches(o.tokens, 4, B, T));
  const all = [...measure, ...(given ?? [])];
  const maxTokens = Math.max(B * T, ...all.map((b) => b.B * b.T));
  const trainer = new Trainer(params, o.gemm, maxTokens, { lr: o.lr ?? 1e-3, clip: o.clip ?? 1.0, weightDecay: o.weightDecay ?? 0.01 });
  const lossBefore = trainer.evaluate(measure);
  const sampler = o.tokens === undefined ? null : new BatchSampler(o.tokens, B, T, new Rng(o.seed));
  let tokensSeen = 0;
  for (let step = 1; step <= o.steps; step++) {
    const batch = sampler === null ? (given as readonly Batch[])[(step - 1) % (given as readonly Batch[]).length]! : sampler.next();
    const r = trainer.step(batch);
    tokensSeen += batch.B * batch.T;
    o.onStep?.(step, r.loss);
  }
  const lossAfter = trainer.evaluate(measure);
  const experts = o.experts.map((component) => ({
    component,
    tensors: params.all.filter((p) => p.component === component).map((p) => ({ key: p.key, shape: p.shape, data: Float32Array.from(p.data) })),
  }));
  return { experts, lossBefore, lossAfter, steps: o.steps, tokensSeen };
}
