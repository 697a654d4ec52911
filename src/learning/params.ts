import { BlyanError } from '../errors.ts';
import { checkShape, type MoeShape } from './config.ts';
import { Rng } from './rng.ts';

/**
 * One trainable tensor. Named by its chain component and TensorBlock key (docs/models.md), so the
 * same names serve chain import (fromChain.ts), export (checkpointExport.ts) and freezing by expert.
 */
export interface Param {
  /** `${component}.${key}`, e.g. "layer1.expert3.gate". */
  readonly name: string;
  /** Chain component: embed, layer{L}.attn, layer{L}.router, layer{L}.expert{E}, head. */
  readonly component: string;
  /** Key inside the component: embed, input_norm, q, k, v, o, post_norm, gate, up, down, norm, lm_head. */
  readonly key: string;
  /** Row-major; matrices are [out, in] as in Hugging Face. */
  readonly shape: readonly number[];
  readonly data: Float32Array;
  /** dLoss/dparam of the last backward pass (left untouched for frozen params). */
  readonly grad: Float32Array;
  trainable: boolean;
}

export interface ExpertParams {
  /** w1 [hidden, dModel] */
  readonly gate: Param;
  /** w3 [hidden, dModel] */
  readonly up: Param;
  /** w2 [dModel, hidden] */
  readonly down: Param;
}

export interface LayerParams {
  readonly inputNorm: Param;
  readonly q: Param;
  readonly k: Param;
  readonly v: Param;
  readonly o: Param;
  readonly postNorm: Param;
  /** [experts, dModel] */
  readonly router: Param;
  readonly experts: readonly ExpertParams[];
}

export interface MoeParams {
  readonly shape: MoeShape;
  /** [vocab, dModel] */
  readonly embed: Param;
  readonly layers: readonly LayerParams[];
  /** final RMSNorm [dModel] */
  readonly norm: Param;
  /** [vocab, dModel] */
  readonly lmHead: Param;
  /** Every parameter, in a fixed order (init, optimizer and clipping follow it). */
  readonly all: readonly Param[];
}

/** Allocates every parameter (zeros; norms at 1), all trainable. */
export function createParams(shape: MoeShape): MoeParams {
  const s = checkShape(shape);
  const all: Param[] = [];
  const make = (component: string, key: string, dims: number[], fill = 0): Param => {
    const n = dims.reduce((a, b) => a * b, 1);
    const p: Param = { name: `${component}.${key}`, component, key, shape: dims, data: new Float32Array(n).fill(fill), grad: new Float32Array(n), trainable: true };
    all.push(p);
    return p;
  };
  const D = s.dModel;
  const embed = make('embed', 'embed', [s.vocab, D]);
  const layers: LayerParams[] = [];
  for (let l = 0; l < s.layers; l++) {
    const a = `layer${l}.attn`;
    const inputNorm = make(a, 'input_norm', [D], 1);
    const q = make(a, 'q', [D, D]);
    const k = make(a, 'k', [D, D]);
    const v = make(a, 'v', [D, D]);
    const o = make(a, 'o', [D, D]);
    const postNorm = make(a, 'post_norm', [D], 1);
    const router = make(`layer${l}.router`, 'gate', [s.experts, D]);
    const experts: ExpertParams[] = [];
    for (let e = 0; e < s.experts; e++) {
      const c = `layer${l}.expert${e}`;
      experts.push({ gate: make(c, 'gate', [s.hidden, D]), up: make(c, 'up', [s.hidden, D]), down: make(c, 'down', [D, s.hidden]) });
    }
    layers.push({ inputNorm, q, k, v, o, postNorm, router, experts });
  }
  const norm = make('head', 'norm', [D], 1);
  const lmHead = make('head', 'lm_head', [s.vocab, D]);
  return { shape: s, embed, layers, norm, lmHead, all };
}

/**
 * GPT-2 style init: N(0, std) for every matrix, N(0, std/√(2·layers)) for the projections that write
 * into the residual stream (attention o and expert down), norm weights 1. Deterministic for a seed.
 */
export function initParams(p: MoeParams, seed: number, std = 0.02): void {
  const rng = new Rng(seed);
  const outStd = std / Math.sqrt(2 * p.shape.layers);
  for (const t of p.all) {
    if (t.shape.length === 1) {
      t.data.fill(1);
      continue;
    }
    const sd = t.key === 'o' || t.key === 'down' ? outStd : std;
    for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal() * sd;
  }
}

export function countParams(p: MoeParams): number {
  let n = 0;
  for (const t of p.all) n += t.data.length;
  return n;
}

/**
 * Which parameters the optimizer updates: 'all', or only the named components (e.g. ["layer1.expert3"]);
 * every other parameter is frozen (still back-propagated through, never updated).
 */
export function setTrainable(p: MoeParams, which: 'all' | readonly string[]): void {
  if (which === 'all') {
    for (const t of p.all) t.trainable = true;
    return;
  }
  const known = new Set(p.all.map((t) => t.component));
  for (const c of which) {
    if (!known.has(c)) throw new BlyanError('BAD_ARGUMENT', `no component "${c}" in this model (e.g. layer0.expert0, layer0.attn, embed, head)`, { component: c });
  }
  const set = new Set(which);
  for (const t of p.all) t.trainable = set.has(t.component);
}

export function trainableParams(p: MoeParams): Param[] {
  return p.all.filter((t) => t.trainable);
}

/** A deep copy of the weights (gradients zeroed), same trainable flags. */
export function cloneParams(p: MoeParams): MoeParams {
  const c = createParams(p.shape);
  for (const [i, t] of p.all.entries()) {
    const d = c.all[i] as Param;
    d.data.set(t.data);
    d.trainable = t.trainable;
  }
  return c;
}
