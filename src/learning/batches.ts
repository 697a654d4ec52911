import { BlyanError } from '../errors.ts';
import type { Rng } from './rng.ts';

export interface Batch {
  /** [B, T] input ids */
  readonly ids: Int32Array;
  /** [B, T] next-token targets */
  readonly targets: Int32Array;
  readonly B: number;
  readonly T: number;
}

/** The first `frac` of the tokens for training, the rest for validation (Python's int(frac · n) split). */
export function splitTokens(tokens: Int32Array, frac = 0.9): { train: Int32Array; val: Int32Array } {
  const n = Math.floor(frac * tokens.length);
  return { train: tokens.subarray(0, n), val: tokens.subarray(n) };
}

function checkFits(data: Int32Array, T: number, what: string): void {
  if (data.length < T + 1) throw new BlyanError('BAD_ARGUMENT', `${what} has ${data.length} tokens: a window of ${T} needs at least ${T + 1}`);
}

function windowInto(data: Int32Array, start: number, T: number, ids: Int32Array, targets: Int32Array, row: number): void {
  ids.set(data.subarray(start, start + T), row * T);
  targets.set(data.subarray(start + 1, start + T + 1), row * T);
}

/** Random training windows: B starts drawn uniformly from [0, n − T) with the given PRNG. */
export class BatchSampler {
  readonly ids: Int32Array;
  readonly targets: Int32Array;

  constructor(
    private readonly data: Int32Array,
    readonly B: number,
    readonly T: number,
    private readonly rng: Rng,
  ) {
    checkFits(data, T, 'the training text');
    this.ids = new Int32Array(B * T);
    this.targets = new Int32Array(B * T);
  }

  /** The next batch (the same arrays, refilled). */
  next(): Batch {
    for (let b = 0; b < this.B; b++) windowInto(this.data, this.rng.int(this.data.length - this.T), this.T, this.ids, this.targets, b);
    return { ids: this.ids, targets: this.targets, B: this.B, T: this.T };
  }
}

/**
 * `count` fixed batches of B windows, evenly spaced over the whole of `data` (independent of any seed), so
 * every run is evaluated on the same tokens.
 */
export function fixedBatches(data: Int32Array, count: number, B: number, T: number): Batch[] {
  checkFits(data, T, 'the validation text');
  const windows = count * B;
  const last = data.length - T - 1;
  const out: Batch[] = [];
  for (let c = 0; c < count; c++) {
    const ids = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const w = c * B + b;
      const start = windows === 1 ? 0 : Math.floor((w * last) / (windows - 1));
      windowInto(data, start, T, ids, targets, b);
    }
    out.push({ ids, targets, B, T });
  }
  return out;
}
