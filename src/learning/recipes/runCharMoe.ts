import { BlyanError } from '../../errors.ts';
import { BatchSampler, fixedBatches, splitTokens } from '../batches.ts';
import { CharVocab } from '../charVocab.ts';
import type { Gemm } from '../gemm/types.ts';
import { countParams, createParams, initParams, type MoeParams } from '../params.ts';
import { Rng } from '../rng.ts';
import { Trainer } from '../trainer.ts';
import { CHAR_MOE, charMoeShape } from './charMoe.ts';

export interface CharMoeRunOptions {
  readonly text: string;
  readonly steps: number;
  /** Steps after which to evaluate (0 = before training); steps beyond `steps` are ignored. */
  readonly evalAt: readonly number[];
  readonly seed: number;
  readonly gemm: Gemm;
  /** Smaller batch (tests, benches); default the recipe's 32. */
  readonly batch?: number;
  /** Validation batches; default the recipe's 16. */
  readonly evalBatches?: number;
  readonly onStep?: (step: number, loss: number) => void;
  readonly onEval?: (step: number, valLoss: number) => void;
}

export interface CharMoeRun {
  readonly evals: { step: number; valLoss: number }[];
  /** batch × context tokens per optimizer step, over the time of the steps alone (no evaluation). */
  readonly tokensPerSecond: number;
  readonly params: number;
  readonly trainSeconds: number;
  readonly lastLoss: number;
  readonly vocab: CharVocab;
  readonly weights: MoeParams;
}

/** Trains the char-moe recipe from scratch; deterministic for a seed on one machine. */
export function runCharMoe(o: CharMoeRunOptions): CharMoeRun {
  if (!Number.isSafeInteger(o.steps) || o.steps < 0) throw new BlyanError('BAD_ARGUMENT', `steps must be a whole number ≥ 0, got ${o.steps}`);
  const r = CHAR_MOE;
  const vocab = CharVocab.fromText(o.text);
  const { train, val } = splitTokens(vocab.encode(o.text), r.trainFraction);
  const B = o.batch ?? r.batch;
  const T = r.context;
  const params = createParams(charMoeShape(vocab.size));
  initParams(params, o.seed, r.initStd);
  const trainer = new Trainer(params, o.gemm, B * T, {
    lr: r.lr,
    beta1: r.beta1,
    beta2: r.beta2,
    adamEps: r.adamEps,
    weightDecay: r.weightDecay,
    clip: r.clip,
  });
  const sampler = new BatchSampler(train, B, T, new Rng(o.seed ^ 0x5eed5eed));
  const valBatches = fixedBatches(val, o.evalBatches ?? r.evalBatches, B, T);
  const evalAt = new Set(o.evalAt.filter((s) => s >= 0 && s <= o.steps));
  const evals: { step: number; valLoss: number }[] = [];
  const evaluate = (step: number): void => {
    if (!evalAt.has(step)) return;
    const valLoss = trainer.evaluate(valBatches);
    evals.push({ step, valLoss });
    o.onEval?.(step, valLoss);
  };
  evaluate(0);
  let trainMs = 0;
  let lastLoss = Number.NaN;
  for (let step = 1; step <= o.steps; step++) {
    const batch = sampler.next();
    const t0 = performance.now();
    lastLoss = trainer.step(batch).loss;
    trainMs += performance.now() - t0;
    o.onStep?.(step, lastLoss);
    evaluate(step);
  }
  const tokens = o.steps * B * T;
  return {
    evals,
    tokensPerSecond: trainMs > 0 ? tokens / (trainMs / 1000) : 0,
    params: countParams(params),
    trainSeconds: trainMs / 1000,
    lastLoss,
    vocab,
    weights: params,
  };
}
