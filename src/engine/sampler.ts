import { BlyanError } from '../errors.ts';

export interface SamplingOptions {
  /** Pick the most likely token (ties → lowest id); ignores the other options. */
  readonly greedy?: boolean;
  readonly temperature?: number;
  /** Keep only the k most likely tokens (0 = all). */
  readonly topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = all). */
  readonly topP?: number;
  /** > 1 discourages tokens already in the context (CTRL-style: logit / p if positive, × p if negative). */
  readonly repetitionPenalty?: number;
  /** Seed of the random stream, so a sampled answer can be reproduced. */
  readonly seed?: number;
}

/** SplitMix64-derived 32-bit generator: tiny, fast and the same on every platform. */
export class SeededRandom {
  private state: bigint;

  constructor(seed: number) {
    this.state = BigInt.asUintN(64, BigInt(Math.trunc(seed)));
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = BigInt.asUintN(64, this.state + 0x9e3779b97f4a7c15n);
    let z = this.state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    z ^= z >> 31n;
    return Number(z >> 11n) / 2 ** 53;
  }
}

export function argmax(logits: Float32Array, offset = 0, n = logits.length - offset): number {
  let best = 0;
  let bestV = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = logits[offset + i] as number;
    if (v > bestV) {
      bestV = v;
      best = i;
    }
  }
  return best;
}

export function validateSampling(o: SamplingOptions): void {
  const bad = (what: string) => {
    throw new BlyanError('ENGINE_BAD_INPUT', what);
  };
  if (o.temperature !== undefined && !(o.temperature >= 0 && Number.isFinite(o.temperature))) bad('temperature must be ≥ 0');
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) bad('top-k must be a whole number ≥ 0');
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) bad('top-p must be in (0, 1]');
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0 && Number.isFinite(o.repetitionPenalty))) bad('repetition penalty must be > 0');
}

/** Chooses the next token from one row of logits. */
export class Sampler {
  private readonly rng: SeededRandom;

  constructor(private readonly opts: SamplingOptions) {
    validateSampling(opts);
    this.rng = new SeededRandom(opts.seed ?? 0);
  }

  sample(logits: Float32Array, context: readonly number[]): number {
    const o = this.opts;
    const vocab = logits.length;
    const l = Float32Array.from(logits);
    if (o.repetitionPenalty !== undefined && o.repetitionPenalty !== 1) {
      for (const id of new Set(context)) {
        if (id < 0 || id >= vocab) continue;
        const v = l[id] as number;
        l[id] = v > 0 ? v / o.repetitionPenalty : v * o.repetitionPenalty;
      }
    }
    if (o.greedy === true || o.temperature === 0) return argmax(l);
    const t = o.temperature ?? 1;
    let ids = Array.from({ length: vocab }, (_, i) => i).sort((a, b) => (l[b] as number) - (l[a] as number) || a - b);
    if (o.topK !== undefined && o.topK > 0) ids = ids.slice(0, o.topK);
    const max = l[ids[0] as number] as number;
    let probs = ids.map((i) => Math.exp(((l[i] as number) - max) / t));
    let sum = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / sum);
    if (o.topP !== undefined && o.topP < 1) {
      let acc = 0;
      let keep = 0;
      while (keep < probs.length && acc < o.topP) acc += probs[keep++] as number;
      ids = ids.slice(0, keep);
      probs = probs.slice(0, keep);
      sum = probs.reduce((a, b) => a + b, 0);
      probs = probs.map((p) => p / sum);
    }
    let r = this.rng.next();
    for (let i = 0; i < ids.length; i++) {
      r -= probs[i] as number;
      if (r < 0) return ids[i] as number;
    }
    return ids[ids.length - 1] as number;
  }
}
