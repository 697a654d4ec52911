/**
 * Proof-of-Learning validation (docs/proof-of-learning.md): a delta block is accepted only when applying it
 * to the exact current version of its expert lowers the loss on the model's public validation set by at
 * least δ. Rules P1–P10 run in the documented order; the first failure is reported with its own code and
 * nothing is written. On acceptance the block (and an attached snapshot) is appended and a reward record
 * committed in the same transaction: the parameter index then names the delta as the current version.
 */
import { verifyStandalone } from '../chain/block.ts';
import { equalBytes, type Hash, sha256, toHex } from '../chain/hash.ts';
import type { AppendItem, BlockStore } from '../chain/store.ts';
import type { Block } from '../chain/types.ts';
import type { Kernels } from '../engine/kernels/types.ts';
import { decodeModelMeta } from '../engine/modelMeta.ts';
import type { ModelEntry } from '../engine/modelRegistry.ts';
import { BlyanError } from '../errors.ts';
import { applyDelta, decodeDelta, deltaNorm } from './delta.ts';
import { evaluate, type LossResult, PrefixCache, withComponent } from './evaluate.ts';
import { f32Hex } from './evaluateLoss.ts';
import { asComponentWeights, encodeComponent, Lineage, lineageSource } from './lineage.ts';
import { checkDeltaForm, checkDeltaShapes, checkFreshBase, checkImprovement, checkManifest, checkNorm, type DeltaTarget } from './polChecks.ts';
import { loadValidationSet, type ValidationSet } from './polValidationSet.ts';
import { decodeDeltaPayload, manifestHash } from './podl.ts';
import { type RewardRecord, RewardRecords } from './rewardRecords.ts';

export interface PolContext {
  readonly store: BlockStore;
  readonly kernels: Kernels;
  /** Shared cache of materialised versions (made per call when absent). */
  readonly lineage?: Lineage;
  /** Hidden states before the delta's layer, reused across deltas (made per call when absent). */
  readonly prefixCache?: PrefixCache;
  /** Receipt time for rule S8 (default Date.now()). */
  readonly now?: number;
}

export interface ValidateOptions {
  /** A snapshot block of the delta's result, appended with it (rule P10). */
  readonly snapshot?: { readonly block: Block; readonly payload: Uint8Array };
  /** Check and evaluate, but write nothing. */
  readonly dryRun?: boolean;
}

export interface AcceptedDelta {
  readonly block: string;
  readonly component: string;
  readonly baseLoss: number;
  readonly newLoss: number;
  readonly improvement: number;
  /** The three as f32 bits (8 hex digits). */
  readonly bits: { readonly baseLoss: string; readonly newLoss: string; readonly improvement: string };
  readonly norm: number;
  readonly reward: RewardRecord;
  /** Milliseconds spent evaluating (both losses). */
  readonly evalMs: number;
}

/** A model entry from its meta block id. */
export function modelEntryOf(store: BlockStore, id: Hash): ModelEntry {
  const block = store.getBlock(id);
  const payload = block === undefined ? undefined : store.getPayload(block.header.payloadHash);
  if (block === undefined || payload === undefined) throw new BlyanError('BLOCK_UNKNOWN_DEP', `model block ${toHex(id)} is not stored here`);
  return { id, idHex: toHex(id), block, meta: decodeModelMeta(payload) };
}

/** Key of the hidden states entering `layer`: the model, the validation set and every version they depend on. */
function prefixKey(store: BlockStore, entry: ModelEntry, vs: ValidationSet, layer: number): string {
  const parts = [entry.idHex, toHex(vs.dataset), String(layer)];
  for (const c of entry.meta.layout) {
    if (c.name === 'tokenizer' || c.name === 'head' || (c.layer !== null && c.layer >= layer)) continue;
    parts.push(`${c.name}=${toHex(store.currentVersion(entry.id, c.name) ?? new Uint8Array(0))}`);
  }
  return toHex(sha256(new TextEncoder().encode(parts.join('\n'))));
}

/**
 * Validates a delta block against the store and, unless `dryRun`, appends it. Throws BlyanError with the
 * code of the first rule that fails (docs/proof-of-learning.md, "Validation rules").
 */
export async function validateDelta(ctx: PolContext, block: Block, payload: Uint8Array, opts: ValidateOptions = {}): Promise<AcceptedDelta> {
  const { store } = ctx;
  const now = ctx.now ?? Date.now();
  const rewards = new RewardRecords(store);
  // P1 — "The block passes the standalone block rules S5–S8 with its payload" (size, PoW, signature, commitment, time).
  verifyStandalone(block, store.preset, { payload, now });
  // P2 — the block's form (needs the model's layout), then the payload decodes strictly.
  const modelId = block.header.deps.find((d) => store.header(d)?.type === 'model' && store.header(d)?.chain === 'A');
  if (modelId === undefined) throw new BlyanError('DELTA_MALFORMED', 'P2: the block names no model block', { rule: 'P2' });
  const entry = modelEntryOf(store, modelId);
  const target: DeltaTarget = checkDeltaForm(block, store, entry.meta);
  const decoded = decodeDeltaPayload(payload);
  // P3 — "A delta is accepted once: its block, its payload, its manifest and its delta bytes are all new."
  const mHash = manifestHash(decoded.manifest);
  const dHash = sha256(decoded.delta);
  const seen = store.has(block.id)
    ? toHex(block.id)
    : store.hasPayload(block.header.payloadHash)
      ? 'a block with the same payload'
      : (rewards.acceptedBy('manifest', mHash) ?? rewards.acceptedBy('delta', dHash));
  if (seen !== undefined) throw new BlyanError('DELTA_REPLAY', `P3: this delta was already accepted (${seen})`, { rule: 'P3', acceptedAs: seen });
  // P4 — the manifest matches the block, the delta and the validation set.
  const vs = await loadValidationSet(store, entry);
  checkManifest(block, decoded, target, vs.dataset);
  // P5 — the base is the current version.
  checkFreshBase(target, store.currentVersion(target.model, target.component));
  // P6 — the delta decodes strictly and fits the component.
  const delta = decodeDelta(decoded.delta);
  const lineage = ctx.lineage ?? new Lineage(store);
  const baseMats = lineage.materialize(target.base);
  checkDeltaShapes(delta, baseMats, target.component);
  // P7 — the norm is within the limit.
  const norm = deltaNorm(delta);
  checkNorm(norm, vs.normLimit);
  // P8 — base ⊕ delta is finite.
  const newMats = applyDelta(baseMats, delta);
  // P9 — the validation loss drops by at least δ.
  const started = performance.now();
  const source = lineageSource(store, entry, lineage);
  const cache = ctx.prefixCache ?? new PrefixCache();
  const common = { config: entry.meta.config, kernels: ctx.kernels, tokens: vs.tokens, offsets: vs.spec.offsets, context: vs.spec.context, batchSize: vs.spec.batchSize };
  const prefix = { cache, key: prefixKey(store, entry, vs, target.layer), layer: target.layer };
  const base: LossResult = await evaluate({ ...common, source, prefix });
  const next: LossResult = await evaluate({ ...common, source: withComponent(source, asComponentWeights(target.component, block.id, newMats)), prefix });
  const evalMs = performance.now() - started;
  const improvement = checkImprovement(base.loss, next.loss, vs.delta32);
  // P10 — an attached snapshot holds exactly the new weights.
  const items: AppendItem[] = [{ block, payload }];
  if (opts.snapshot !== undefined) {
    checkSnapshot(opts.snapshot, block, target, encodeComponent(newMats));
    items.push(opts.snapshot);
  }
  const reward: RewardRecord = {
    miner: `0x${toHex(block.header.author)}`,
    model: entry.idHex,
    component: target.component,
    block: toHex(block.id),
    improvement,
    improvementBits: f32Hex(improvement),
    baseLoss: base.loss,
    baseLossBits: base.bits,
    newLoss: next.loss,
    newLossBits: next.bits,
    time: block.header.time,
  };
  if (opts.dryRun !== true) {
    store.appendBatch(items, { now, alsoWrite: () => rewards.putSync(reward, mHash, dHash) });
  }
  return {
    block: reward.block,
    component: target.component,
    baseLoss: base.loss,
    newLoss: next.loss,
    improvement,
    bits: { baseLoss: base.bits, newLoss: next.bits, improvement: reward.improvementBits },
    norm,
    reward,
    evalMs,
  };
}

/**
 * P10 — "A snapshot submitted with a delta is a chain-B `snapshot` block of the same component whose deps are
 * the model block and the delta block, and whose payload is byte for byte the f32 TensorBlock of base ⊕ delta."
 */
function checkSnapshot(s: { block: Block; payload: Uint8Array }, delta: Block, target: DeltaTarget, expected: Uint8Array): void {
  const h = s.block.header;
  const ok =
    h.chain === 'B' &&
    h.type === 'snapshot' &&
    h.expert === target.component &&
    h.deps.length === 2 &&
    h.deps.some((d) => equalBytes(d, delta.id)) &&
    h.deps.some((d) => equalBytes(d, target.model)) &&
    equalBytes(s.payload, expected);
  if (!ok) throw new BlyanError('DELTA_MALFORMED', 'P10: the attached snapshot is not exactly base ⊕ delta of this delta', { rule: 'P10' });
}
