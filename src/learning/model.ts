import { BlyanError } from '../errors.ts';
import { AttentionBlock, AttentionScratch } from './attentionBlock.ts';
import type { Gemm } from './gemm/types.ts';
import { MoeBlock, MoeScratch } from './moeBlock.ts';
import { type AuxLoss, auxLossForward, auxLossGrad } from './ops/auxLoss.ts';
import { crossEntropyBackward, crossEntropyForward } from './ops/crossEntropy.ts';
import { embeddingBackward, embeddingForward } from './ops/embedding.ts';
import { linearBackward, linearForward } from './ops/linear.ts';
import { rmsNormBackward, rmsNormForward } from './ops/rmsnorm.ts';
import { RopeTable } from './ops/rope.ts';
import type { MoeParams } from './params.ts';

export interface ForwardLoss {
  /** Mean cross-entropy over the batch's tokens. */
  readonly ce: number;
  /** Load-balancing loss (before its coefficient). */
  readonly aux: number;
  /** ce + auxCoef · aux: what backward() differentiates. */
  readonly loss: number;
}

/**
 * The trainable MoE transformer: forward with loss, and backward into each parameter's `grad`. Every
 * activation lives in Float32Arrays allocated once for `maxTokens` (batch × context) tokens; the big
 * products all go through the Gemm.
 */
export class TrainModel {
  private readonly attn: AttentionBlock[];
  private readonly moe: MoeBlock[];
  /** resid[l]: input of layer l; resid[L]: output of the last layer. mid[l]: after layer l's attention. */
  private readonly resid: Float32Array[];
  private readonly mid: Float32Array[];
  private readonly hf: Float32Array;
  private readonly rinvF: Float32Array;
  /** [tokens, vocab] logits of the last forward pass. */
  readonly logits: Float32Array;
  private readonly dLogits: Float32Array;
  private readonly dx: Float32Array;
  private readonly dHf: Float32Array;
  private readonly auxGrad: Float64Array;
  private ids: Int32Array = new Int32Array(0);
  private targets: Int32Array | null = null;
  private n = 0;
  private lastAux: AuxLoss | null = null;

  constructor(
    readonly params: MoeParams,
    readonly gemm: Gemm,
    readonly maxTokens: number,
  ) {
    const s = params.shape;
    const D = s.dModel;
    const rope = new RopeTable(s.headDim, s.context, s.ropeTheta);
    const as = new AttentionScratch(maxTokens, D, s.heads, s.context);
    const ms = new MoeScratch(maxTokens, D, s.experts, s.topK);
    this.attn = params.layers.map((w) => new AttentionBlock(w, gemm, rope, as, maxTokens, D, s.heads, s.eps));
    this.moe = params.layers.map((w) => new MoeBlock(w, gemm, ms, maxTokens, D, s.experts, s.topK, s.hidden, s.eps));
    this.resid = Array.from({ length: s.layers + 1 }, () => new Float32Array(maxTokens * D));
    this.mid = Array.from({ length: s.layers }, () => new Float32Array(maxTokens * D));
    this.hf = new Float32Array(maxTokens * D);
    this.rinvF = new Float32Array(maxTokens);
    this.logits = new Float32Array(maxTokens * s.vocab);
    this.dLogits = new Float32Array(maxTokens * s.vocab);
    this.dx = new Float32Array(maxTokens * D);
    this.dHf = new Float32Array(maxTokens * D);
    this.auxGrad = new Float64Array(s.experts);
  }

  /**
   * Runs B sequences of T tokens (ids row-major [B, T]). With targets, returns the losses (and keeps what
   * backward() needs); without, only fills `logits`.
   */
  forward(ids: Int32Array, targets: Int32Array | null, B: number, T: number): ForwardLoss {
    const s = this.params.shape;
    const n = B * T;
    if (n > this.maxTokens || T > s.context) {
      throw new BlyanError('BAD_ARGUMENT', `batch ${B}×${T} exceeds the model's buffers (${this.maxTokens} tokens, context ${s.context})`);
    }
    if (ids.length < n || (targets !== null && targets.length < n)) throw new BlyanError('BAD_ARGUMENT', `need ${n} token ids for a ${B}×${T} batch`);
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      const tg = targets === null ? 0 : targets[i]!;
      if (id < 0 || id >= s.vocab || tg < 0 || tg >= s.vocab) throw new BlyanError('BAD_ARGUMENT', `token id outside the vocabulary of ${s.vocab}`);
    }
    this.ids = ids;
    this.targets = targets;
    this.n = n;
    const D = s.dModel;
    const p = this.params;
    embeddingForward(p.embed.data, ids, this.resid[0]!, n, D);
    for (let l = 0; l < s.layers; l++) {
      this.attn[l]!.forward(this.resid[l]!, this.mid[l]!, B, T);
      this.moe[l]!.forward(this.mid[l]!, this.resid[l + 1]!, n);
    }
    rmsNormForward(this.resid[s.layers]!, p.norm.data, this.hf, this.rinvF, n, D, s.eps);
    linearForward(this.gemm, this.hf, p.lmHead.data, this.logits, n, D, s.vocab);
    if (targets === null) return { ce: Number.NaN, aux: Number.NaN, loss: Number.NaN };
    const ce = crossEntropyForward(this.logits, targets, n, s.vocab);
    const aux = auxLossForward(
      this.moe.map((m) => m.probs),
      this.moe.map((m) => m.topIdx),
      n,
      s.experts,
      s.topK,
    );
    this.lastAux = aux;
    return { ce, aux: aux.value, loss: ce + s.auxCoef * aux.value };
  }

  /** Gradients of the last forward's loss into every trainable parameter's `grad` (overwritten); once per forward. */
  backward(): void {
    const targets = this.targets;
    const aux = this.lastAux;
    if (targets === null || aux === null) throw new BlyanError('BAD_ARGUMENT', 'backward() needs a forward pass with targets first');
    // The backward pass overwrites saved activations (SwiGLU's): one backward per forward.
    this.lastAux = null;
    const s = this.params.shape;
    const p = this.params;
    const n = this.n;
    const D = s.dModel;
    for (const t of p.all) if (t.trainable) t.grad.fill(0);
    // Stage of each trainable parameter: 0 embed, 1+2l attention of layer l, 2+2l MoE of layer l, 2L+1 head.
    let lowest = Number.POSITIVE_INFINITY;
    if (p.embed.trainable) lowest = 0;
    for (const [l, w] of p.layers.entries()) {
      const attnStage = [w.inputNorm, w.q, w.k, w.v, w.o].some((t) => t.trainable);
      const moeStage = w.postNorm.trainable || w.router.trainable || w.experts.some((e) => e.gate.trainable || e.up.trainable || e.down.trainable);
      if (attnStage) lowest = Math.min(lowest, 1 + 2 * l);
      if (moeStage) lowest = Math.min(lowest, 2 + 2 * l);
    }
    if (p.norm.trainable || p.lmHead.trainable) lowest = Math.min(lowest, 2 * s.layers + 1);
    if (lowest === Number.POSITIVE_INFINITY) return;

    crossEntropyBackward(this.logits, targets, this.dLogits, n, s.vocab);
    const head = 2 * s.layers + 1;
    const needDhf = lowest < head || p.norm.trainable;
    linearBackward(this.gemm, this.hf, p.lmHead.data, this.dLogits, needDhf ? this.dHf : null, p.lmHead.trainable ? p.lmHead.grad : null, n, D, s.vocab, false);
    if (!needDhf) return;
    const dh = this.dx;
    dh.fill(0, 0, n * D);
    rmsNormBackward(this.resid[s.layers]!, p.norm.data, this.rinvF, this.dHf, dh, p.norm.trainable ? p.norm.grad : null, n, D);
    auxLossGrad(aux, s.auxCoef, this.auxGrad);
    for (let l = s.layers - 1; l >= 0; l--) {
      if (lowest > 2 + 2 * l) break;
      this.moe[l]!.backward(this.mid[l]!, dh, this.auxGrad, lowest < 2 + 2 * l);
      if (lowest > 1 + 2 * l) break;
      this.attn[l]!.backward(this.resid[l]!, dh, lowest < 1 + 2 * l);
    }
    if (p.embed.trainable) embeddingBackward(dh, this.ids, p.embed.grad, n, D);
  }
}
