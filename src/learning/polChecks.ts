/**
 * The pure checks of delta validation, each quoting its rule in docs/proof-of-learning.md ("Validation
 * rules"). They read headers through a ChainView and throw BlyanError with the rule's code; nothing here
 * writes or evaluates.
 */
import type { ChainView } from '../chain/dag.ts';
import { baseVersionOf, modelOf } from '../chain/dag.ts';
import { equalBytes, type Hash, sha256, toHex } from '../chain/hash.ts';
import type { Block } from '../chain/types.ts';
import type { ModelMeta } from '../engine/modelMeta.ts';
import { BlyanError } from '../errors.ts';
import type { Delta, F32Matrix } from './delta.ts';
import type { DeltaPayload } from './podl.ts';

function mismatch(rule: string, message: string): never {
  throw new BlyanError('DELTA_MANIFEST_MISMATCH', `${rule}: ${message}`, { rule });
}

export interface DeltaTarget {
  readonly model: Hash;
  readonly component: string;
  readonly layer: number;
  readonly base: Hash;
  readonly dataset: Hash;
}

/**
 * P2 — "A delta block is a chain-B block of type `delta` whose `expert` names a routed or shared expert of its
 * model (a layout component of type `expert`) and whose deps are exactly three: the model block, one version
 * of that component (the base) and one dataset block on chain D."
 */
export function checkDeltaForm(block: Block, view: ChainView, meta: ModelMeta): DeltaTarget {
  const h = block.header;
  const bad = (message: string): never => {
    throw new BlyanError('DELTA_MALFORMED', `P2: ${message}`, { rule: 'P2' });
  };
  if (h.chain !== 'B' || h.type !== 'delta' || h.expert === null) bad(`a delta is a chain-B block of type delta, this is ${h.chain}/${h.type}`);
  const component = h.expert as string;
  const spec = meta.layout.find((c) => c.name === component);
  if (spec === undefined || spec.type !== 'expert' || spec.layer === null) bad(`${component} is not an expert of this model`);
  if (h.deps.length !== 3) bad(`a delta has 3 deps (model, base version, dataset), this one has ${h.deps.length}`);
  const model = modelOf(h, view);
  const base = baseVersionOf(h, view);
  if (base === undefined) bad(`no dep is a version of ${component}`);
  const datasets = h.deps.filter((d) => {
    const dh = view.header(d);
    return dh !== undefined && dh.chain === 'D' && dh.type === 'dataset';
  });
  if (datasets.length !== 1) bad('exactly one dep must be a dataset block on chain D');
  return { model, component, layer: spec?.layer as number, base: base as Hash, dataset: datasets[0] as Hash };
}

/**
 * P4 — "The manifest matches the block and the chain: `model`, `component` and `base` are the block's model
 * dep, `expert` and base-version dep; `dataset` is the block's dataset dep and the validation set's dataset;
 * `miner` is the block's author; `deltaHash` is the SHA-256 of the delta bytes."
 */
export function checkManifest(block: Block, payload: DeltaPayload, target: DeltaTarget, validationDataset: Hash): void {
  const m = payload.manifest;
  if (!equalBytes(m.model, target.model)) mismatch('P4', `manifest model ${toHex(m.model)} is not the block's model ${toHex(target.model)}`);
  if (m.component !== target.component) mismatch('P4', `manifest component ${m.component} is not the block's ${target.component}`);
  if (!equalBytes(m.base, target.base)) mismatch('P4', `manifest base ${toHex(m.base)} is not the block's base version ${toHex(target.base)}`);
  if (!equalBytes(m.dataset, target.dataset)) mismatch('P4', `manifest dataset ${toHex(m.dataset)} is not the block's dataset dep`);
  if (!equalBytes(m.dataset, validationDataset)) {
    mismatch('P4', `manifest dataset ${toHex(m.dataset)} is not the model's validation dataset ${toHex(validationDataset)}`);
  }
  if (!equalBytes(m.miner, block.header.author)) mismatch('P4', "manifest miner is not the block's author");
  if (!equalBytes(m.deltaHash, sha256(payload.delta))) mismatch('P4', 'manifest deltaHash is not the SHA-256 of the delta bytes');
}

/** P5 — "The base is the current version of the component in the parameter index." */
export function checkFreshBase(target: DeltaTarget, current: Hash | undefined): void {
  if (current === undefined || !equalBytes(current, target.base)) {
    throw new BlyanError(
      'DELTA_STALE_BASE',
      `P5: the delta modifies ${target.component} version ${toHex(target.base).slice(0, 16)}…, but the current version is ${current === undefined ? 'none' : `${toHex(current).slice(0, 16)}…`}`,
      { rule: 'P5', base: toHex(target.base), current: current === undefined ? null : toHex(current) },
    );
  }
}

/** P6 — "The delta names exactly the component's tensors, with their shapes." */
export function checkDeltaShapes(delta: Delta, base: readonly F32Matrix[], component: string): void {
  const byName = new Map(base.map((t) => [t.name, t]));
  if (delta.tensors.length !== base.length) {
    throw new BlyanError('DELTA_MALFORMED', `P6: the delta has ${delta.tensors.length} tensors, ${component} has ${base.length}`, { rule: 'P6' });
  }
  for (const t of delta.tensors) {
    const b = byName.get(t.name);
    if (b === undefined || b.rows !== t.rows || b.cols !== t.cols) {
      throw new BlyanError('DELTA_MALFORMED', `P6: delta tensor ${t.name} [${t.rows}, ${t.cols}] does not match ${component}`, { rule: 'P6', tensor: t.name });
    }
  }
}

/** P7 — "The L2 norm of the delta's values is at most the validation set's `deltaNormLimit`." */
export function checkNorm(norm: number, limit: number): void {
  if (!(norm <= limit)) {
    throw new BlyanError('DELTA_NORM_TOO_LARGE', `P7: the delta's L2 norm ${norm} exceeds the limit ${limit}`, { rule: 'P7', norm, limit });
  }
}

/**
 * P9 — "improvement = round32(baseLoss − newLoss) ≥ round32(δ), with newLoss finite." Losses are f32
 * (evaluate.ts), so every validator compares the same bits.
 */
export function checkImprovement(baseLoss: number, newLoss: number, delta32: number): number {
  const improvement = Math.fround(baseLoss - newLoss);
  if (!Number.isFinite(newLoss) || !(improvement >= delta32)) {
    throw new BlyanError('DELTA_NO_IMPROVEMENT', `P9: the loss goes from ${baseLoss} to ${newLoss} (improvement ${improvement}); at least ${delta32} is needed`, {
      rule: 'P9',
      baseLoss,
      newLoss,
      improvement,
      delta: delta32,
    });
  }
  return improvement;
}
