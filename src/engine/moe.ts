import { BlyanError } from '../errors.ts';
import { attend } from './attention.ts';
import { ExpertCache } from './expertCache.ts';
import { type ExpertJob, type ExpertRunner, type FfnWeights, ffnWeights, LocalExpertRunner, runFfn } from './expertRunner.ts';
import type { ExpertSource } from './expertSource.ts';
import type { Kernels, WeightMatrix } from './kernels/types.ts';
import { KvCache } from './kvCache.ts';
import type { ModelConfig } from './modelConfig.ts';
import { addBias, addInPlace, clampInPlace, rmsNorm } from './ops.ts';
import { Rope } from './rope.ts';
import { route } from './router.ts';
import { asMatrix, asVector, readRow } from './weights.ts';

interface AttentionWeights {
  inputNorm: Float32Array;
  q: WeightMatrix;
  k: WeightMatrix;
  v: WeightMatrix;
  o: WeightMatrix;
  qBias: Float32Array | null;
  kBias: Float32Array | null;
  vBias: Float32Array | null;
  qNorm: Float32Array | null;
  kNorm: Float32Array | null;
  postNorm: Float32Array;
}

interface LayerWeights {
  attn: AttentionWeights;
  router: WeightMatrix | null;
  dense: FfnWeights | null;
  shared: (FfnWeights & { sharedGate: Float32Array }) | null;
}

export interface ForwardResult {
  /** Logits of the requested positions, row-major [positions][vocab]. */
  readonly logits: Float32Array;
  /** Experts chosen per layer and token, most probable first: [layer][token][k]. */
  readonly experts: number[][][];
}

export interface LoadOptions {
  /** Byte budget of the expert cache (--cache-mb). */
  readonly cacheBytes: number;
  /**
   * Where routed experts run (default: here, from the expert cache). Given the local runner, so a remote
   * runner can spot-check workers against it and fall back to it.
   */
  readonly runner?: (local: LocalExpertRunner) => ExpertRunner;
}

const ffn = ffnWeights;

/**
 * A Mixture-of-Experts decoder (Mixtral, Qwen2-MoE, OLMoE) built from chain components. Base parts
 * (embeddings, attention, norms, routers, shared experts, head) are loaded once; routed experts are
 * loaded only when a router picks them, through an LRU cache over an ExpertSource.
 */
export class MoeModel {
  readonly experts: ExpertCache;
  /** Routed experts run here, through the expert cache. */
  readonly localRunner: LocalExpertRunner;
  /** Where the MoE layers send their routed experts: the local runner unless LoadOptions.runner says otherwise. */
  readonly runner: ExpertRunner;
  private readonly rope: Rope;

  private constructor(
    readonly config: ModelConfig,
    readonly kernels: Kernels,
    private readonly embed: WeightMatrix,
    private readonly layers: LayerWeights[],
    private readonly finalNorm: Float32Array,
    private readonly lmHead: WeightMatrix,
    source: ExpertSource,
    opts: LoadOptions,
  ) {
    this.experts = new ExpertCache(source, opts.cacheBytes);
    this.localRunner = new LocalExpertRunner(this.experts, kernels);
    this.runner = opts.runner === undefined ? this.localRunner : opts.runner(this.localRunner);
    this.rope = new Rope(config.headDim, config.ropeTheta);
  }

  static async load(config: ModelConfig, source: ExpertSource, kernels: Kernels, opts: LoadOptions): Promise<MoeModel> {
    const c = config;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const embed = asMatrix((await source.load('embed')).tensor('embed'));
    const layers: LayerWeights[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const a = await source.load(`layer${l}.attn`);
      const vec = (key: string, n: number) => asVector(a.tensor(key), n);
      const attn: AttentionWeights = {
        inputNorm: asVector(a.tensor('input_norm'), c.hiddenSize),
        q: asMatrix(a.tensor('q')),
        k: asMatrix(a.tensor('k')),
        v: asMatrix(a.tensor('v')),
        o: asMatrix(a.tensor('o')),
        qBias: c.qkvBias ? vec('q_bias', qDim) : null,
        kBias: c.qkvBias ? vec('k_bias', kvDim) : null,
        vBias: c.qkvBias ? vec('v_bias', kvDim) : null,
        qNorm: c.qkNorm ? vec('q_norm', qDim) : null,
        kNorm: c.qkNorm ? vec('k_norm', kvDim) : null,
        postNorm: asVector(a.tensor('post_norm'), c.hiddenSize),
      };
      if (!c.sparseLayers[l]) {
        layers.push({ attn, router: null, dense: ffn(await source.load(`layer${l}.mlp`)), shared: null });
        continue;
      }
      const router = asMatrix((await source.load(`layer${l}.router`)).tensor('gate'));
      let shared: LayerWeights['shared'] = null;
      if (c.sharedExpertIntermediate > 0) {
        const s = await source.load(`layer${l}.shared`);
        shared = { ...ffn(s), sharedGate: asVector(s.tensor('shared_gate'), c.hiddenSize) };
      }
      layers.push({ attn, router, dense: null, shared });
    }
    const head = await source.load('head');
    const finalNorm = asVector(head.tensor('norm'), c.hiddenSize);
    const lmHead = c.tieWordEmbeddings ? embed : asMatrix(head.tensor('lm_head'));
    return new MoeModel(c, kernels, embed, layers, finalNorm, lmHead, source, opts);
  }

  newSession(): InferenceSession {
    return new InferenceSession(this);
  }

  /** @internal used by InferenceSession */
  layer(l: number): LayerWeights {
    return this.layers[l] as LayerWeights;
  }

  /** @internal */
  embedTokens(ids: readonly number[]): Float32Array {
    const H = this.config.hiddenSize;
    const x = new Float32Array(ids.length * H);
    for (const [t, id] of ids.entries()) readRow(this.embed, id, x, t * H);
    return x;
  }

  /** @internal */
  head(x: Float32Array, tokens: number): Float32Array {
    const H = this.config.hiddenSize;
    const normed = new Float32Array(tokens * H);
    rmsNorm(normed, x, this.finalNorm, H, tokens, this.config.rmsNormEps);
    const logits = new Float32Array(tokens * this.config.vocabSize);
    this.kernels.matmul(logits, this.lmHead, normed, tokens);
    return logits;
  }

  /** @internal */
  rotary(): Rope {
    return this.rope;
  }

  /** y[t] = scale[t] · down(silu(gate·x[t]) ⊙ up·x[t]) for `tokens` rows of x (scale 1 when omitted). */
  runFfn(w: FfnWeights, x: Float32Array, tokens: number, scale?: readonly number[]): Float32Array {
    return runFfn(this.kernels, w, x, tokens, scale);
  }
}

/** One conversation's state: the KV cache and the next position. */
export class InferenceSession {
  private readonly cache: KvCache;
  position = 0;

  constructor(private readonly model: MoeModel) {
    const c = model.config;
    this.cache = new KvCache(c.numLayers, c.numKvHeads * c.headDim, c.maxPositions);
  }

  /** Positions left before the model's context is full. */
  get remaining(): number {
    return this.model.config.maxPositions - this.position;
  }

  /**
   * Runs `ids` at the next positions, extending the KV cache. Returns logits for every new position
   * when `allLogits`, else only for the last one.
   */
  async forward(ids: readonly number[], opts: { allLogits?: boolean } = {}): Promise<ForwardResult> {
    const m = this.model;
    const c = m.config;
    if (ids.length === 0) throw new BlyanError('ENGINE_BAD_INPUT', 'no input tokens');
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) {
        throw new BlyanError('ENGINE_BAD_INPUT', `token id ${id} is outside the vocabulary (0..${c.vocabSize - 1})`, { id });
      }
    }
    if (this.position + ids.length > c.maxPositions) {
      throw new BlyanError('ENGINE_CONTEXT_OVERFLOW', `${this.position + ids.length} tokens exceed the model's context of ${c.maxPositions}`);
    }
    const T = ids.length;
    const H = c.hiddenSize;
    const start = this.position;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    this.cache.reserve(start + T);
    const x = m.embedTokens(ids);
    const h = new Float32Array(T * H);
    const experts: number[][][] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const w = m.layer(l);
      const a = w.attn;
      rmsNorm(h, x, a.inputNorm, H, T, c.rmsNormEps);
      const q = new Float32Array(T * qDim);
      const k = new Float32Array(T * kvDim);
      const v = new Float32Array(T * kvDim);
      m.kernels.matmulMany([q, k, v], [a.q, a.k, a.v], h, T);
      if (a.qBias !== null) addBias(q, a.qBias, qDim, T);
      if (a.kBias !== null) addBias(k, a.kBias, kvDim, T);
      if (a.vBias !== null) addBias(v, a.vBias, kvDim, T);
      if (a.qNorm !== null) rmsNorm(q, q, a.qNorm, qDim, T, c.rmsNormEps);
      if (a.kNorm !== null) rmsNorm(k, k, a.kNorm, kvDim, T, c.rmsNormEps);
      if (c.clipQkv !== null) {
        clampInPlace(q, c.clipQkv);
        clampInPlace(k, c.clipQkv);
        clampInPlace(v, c.clipQkv);
      }
      const rope = m.rotary();
      for (let t = 0; t < T; t++) {
        rope.apply(q, t * qDim, c.numHeads, start + t);
        rope.apply(k, t * kvDim, c.numKvHeads, start + t);
      }
      this.cache.keysOf(l).set(k, start * kvDim);
      this.cache.valuesOf(l).set(v, start * kvDim);
      const attnOut = new Float32Array(T * qDim);
      attend(attnOut, q, this.cache, l, start, T, c.numHeads, c.numKvHeads, c.headDim);
      const o = new Float32Array(T * H);
      m.kernels.matmul(o, a.o, attnOut, T);
      addInPlace(x, o);

      rmsNorm(h, x, a.postNorm, H, T, c.rmsNormEps);
      if (w.dense !== null) {
        addInPlace(x, m.runFfn(w.dense, h, T));
        experts.push([]);
        continue;
      }
      const moeOut = await this.moe(l, w, h, T, experts);
      addInPlace(x, moeOut);
    }
    this.position += T;
    this.cache.length = this.position;
    const outRows = opts.allLogits === true ? T : 1;
    const last = x.subarray((T - outRows) * H);
    return { logits: m.head(last, outRows), experts };
  }

  private async moe(l: number, w: LayerWeights, h: Float32Array, T: number, experts: number[][][]): Promise<Float32Array> {
    const m = this.model;
    const c = m.config;
    const H = c.hiddenSize;
    const E = c.numExperts;
    const logits = new Float32Array(T * E);
    m.kernels.matmul(logits, w.router as WeightMatrix, h, T);
    const routes = Array.from({ length: T }, (_, t) => route(logits, t * E, E, c.topK, c.normTopkProb));
    experts.push(routes.map((r) => r.experts));
    // Group tokens by expert so each expert's weights stream once for all tokens that chose it.
    const byExpert = new Map<number, { token: number; slot: number }[]>();
    for (const [t, r] of routes.entries()) {
      for (const [slot, e] of r.experts.entries()) {
        const list = byExpert.get(e) ?? [];
        list.push({ token: t, slot });
        byExpert.set(e, list);
      }
    }
    // contributions[t][slot] keeps each expert's weighted output, summed afterwards in slot order,
    // so the result does not depend on which expert finished first, nor on where it ran (local or remote
    // runners return the same bits; the runner only computes, the summation order is fixed here).
    const contributions: (Float32Array | undefined)[][] = Array.from({ length: T }, () => new Array<Float32Array | undefined>(c.topK));
    const order = [...byExpert.keys()].sort((a, b) => a - b);
    const jobs: ExpertJob[] = order.map((e) => {
      const uses = byExpert.get(e) as { token: number; slot: number }[];
      const xs = new Float32Array(uses.length * H);
      for (const [i, u] of uses.entries()) xs.set(h.subarray(u.token * H, (u.token + 1) * H), i * H);
      const scale = uses.map((u) => (routes[u.token] as { weights: number[] }).weights[u.slot] as number);
      return { name: `layer${l}.expert${e}`, xs, rows: uses.length, scale };
    });
    const results = await m.runner.runLayer(l, jobs);
    for (const [j, e] of order.entries()) {
      const uses = byExpert.get(e) as { token: number; slot: number }[];
      const ys = results[j] as Float32Array;
      for (const [i, u] of uses.entries()) (contributions[u.token] as (Float32Array | undefined)[])[u.slot] = ys.subarray(i * H, (i + 1) * H);
    }
    const out = new Float32Array(T * H);
    for (let t = 0; t < T; t++) {
      for (const y of contributions[t] as Float32Array[]) {
        for (let j = 0; j < H; j++) out[t * H + j] = (out[t * H + j] as number) + (y[j] as number);
      }
    }
    if (w.shared !== null) {
      const sh = m.runFfn(w.shared, h, T);
      for (let t = 0; t < T; t++) {
        let dot = 0;
        for (let j = 0; j < H; j++) dot += (w.shared.sharedGate[j] as number) * (h[t * H + j] as number);
        const g = 1 / (1 + Math.exp(-dot));
        for (let j = 0; j < H; j++) out[t * H + j] = (out[t * H + j] as number) + Math.fround(g * (sh[t * H + j] as number));
      }
    }
    return out;
  }
}
