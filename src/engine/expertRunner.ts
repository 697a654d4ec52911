import type { ExpertCache } from './expertCache.ts';
import type { ComponentWeights } from './expertSource.ts';
import type { Kernels, WeightMatrix } from './kernels/types.ts';
import { asMatrix } from './weights.ts';

/**
 * Where the MoE layer's routed experts run. The layer gathers, per selected expert, the hidden states of
 * the tokens that chose it and their router weights (one job per expert), hands the jobs of a layer to a
 * runner in one call, and sums the answers in slot order itself. The local runner loads the weights through
 * the expert cache and runs the kernels here; a remote runner (src/p2p/remoteExperts.ts) sends the jobs to
 * workers hosting the exact expert versions. Both compute
 *
 *   ys[r] = round32(scale[r]) · FFN(xs[r])      for every row r, with the same kernels on the same f32 inputs,
 *
 * so their answers are bitwise identical and the model's output does not depend on where experts ran.
 */
export interface ExpertJob {
  /** Component name, `layer{L}.expert{E}`. */
  readonly name: string;
  /** rows × H hidden states, row-major. */
  readonly xs: Float32Array;
  readonly rows: number;
  /** One router weight per row (the kernels round it to f32). */
  readonly scale: readonly number[];
}

export interface ExpertRunner {
  /** Runs every job of layer `layer`; returns rows × H outputs per job, in job order. */
  runLayer(layer: number, jobs: readonly ExpertJob[]): Promise<Float32Array[]>;
}

export interface FfnWeights {
  readonly gate: WeightMatrix;
  readonly up: WeightMatrix;
  readonly down: WeightMatrix;
}

/** The three matrices of a SwiGLU feed-forward component (expert, shared expert or dense MLP). */
export function ffnWeights(c: ComponentWeights): FfnWeights {
  return { gate: asMatrix(c.tensor('gate')), up: asMatrix(c.tensor('up')), down: asMatrix(c.tensor('down')) };
}

/** y[t] = scale[t] · down(silu(gate·x[t]) ⊙ up·x[t]) for `rows` rows of x (scale 1 when omitted). */
export function runFfn(kernels: Kernels, w: FfnWeights, xs: Float32Array, rows: number, scale?: ArrayLike<number>): Float32Array {
  const y = new Float32Array(rows * w.down.rows);
  kernels.expertFfn(y, w.gate, w.up, w.down, xs, rows, scale);
  return y;
}

/** Experts from the local expert cache, run by this process's kernels, one after the other. */
export class LocalExpertRunner implements ExpertRunner {
  constructor(
    readonly cache: ExpertCache,
    readonly kernels: Kernels,
  ) {}

  async runLayer(_layer: number, jobs: readonly ExpertJob[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const job of jobs) {
      const weights = await this.cache.get(job.name);
      out.push(runFfn(this.kernels, ffnWeights(weights), job.xs, job.rows, job.scale));
    }
    return out;
  }
}
