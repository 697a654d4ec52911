import type { Batch } from './batches.ts';
import { clipGradNorm } from './clip.ts';
import type { Gemm } from './gemm/types.ts';
import { TrainModel } from './model.ts';
import { AdamW } from './optimizer.ts';
import { type MoeParams, type Param, trainableParams } from './params.ts';

export interface TrainHyper {
  readonly lr: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly adamEps?: number;
  readonly weightDecay?: number;
  /** Global gradient-norm clip (≤ 0: none). */
  readonly clip: number;
}

export interface StepResult {
  /** ce + auxCoef · aux of the batch, before the update */
  readonly loss: number;
  readonly ce: number;
  readonly aux: number;
  /** Global gradient norm before clipping. */
  readonly gradNorm: number;
}

/**
 * One optimizer step = forward, backward, clip, AdamW over the trainable parameters (frozen ones get
 * neither gradients nor optimizer state). Evaluation runs the same model without backward.
 */
export class Trainer {
  readonly model: TrainModel;
  readonly optimizer: AdamW;
  readonly trainable: readonly Param[];

  constructor(
    readonly params: MoeParams,
    gemm: Gemm,
    maxTokens: number,
    private readonly hp: TrainHyper,
  ) {
    this.model = new TrainModel(params, gemm, maxTokens);
    this.trainable = trainableParams(params);
    this.optimizer = new AdamW(this.trainable, {
      lr: hp.lr,
      ...(hp.beta1 === undefined ? {} : { beta1: hp.beta1 }),
      ...(hp.beta2 === undefined ? {} : { beta2: hp.beta2 }),
      ...(hp.adamEps === undefined ? {} : { eps: hp.adamEps }),
      ...(hp.weightDecay === undefined ? {} : { weightDecay: hp.weightDecay }),
    });
  }

  step(batch: Batch): StepResult {
    const r = this.model.forward(batch.ids, batch.targets, batch.B, batch.T);
    this.model.backward();
    const gradNorm = this.hp.clip > 0 ? clipGradNorm(this.trainable, this.hp.clip) : Number.NaN;
    this.optimizer.update();
    return { loss: r.loss, ce: r.ce, aux: r.aux, gradNorm };
  }

  /** Mean cross-entropy over the batches (each batch's mean, averaged). */
  evaluate(batches: readonly Batch[]): number {
    let sum = 0;
    for (const b of batches) sum += this.model.forward(b.ids, b.targets, b.B, b.T).ce;
    return sum / batches.length;
  }
}
