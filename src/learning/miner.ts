/**
 * Mining (DESIGN.md §7, docs/proof-of-learning.md "Mining"): a miner fine-tunes chosen experts of the
 * current model on its shard of the validation set's dataset, turns each trained expert into a delta block
 * (compressed delta + PoDL manifest, signed, proof-of-work) and submits it to validation. Every choice is a
 * pure function of chain data and the miner's address: the round, the shard, the default expert, the seed.
 */
import { type Hash, sha256, toHex } from '../chain/hash.ts';
import { addressOf } from '../chain/sign.ts';
import type { BlockStore } from '../chain/store.ts';
import { readDataset } from '../datasets/registry.ts';
import { type Shard, shardBytes, shardFor } from '../datasets/sharding.ts';
import type { Kernels } from '../engine/kernels/types.ts';
import type { ModelEntry } from '../engine/modelRegistry.ts';
import { loadTokenizer } from '../engine/tokenizer.ts';
import { BlyanError } from '../errors.ts';
import { buildDeltaBlock } from './deltaBlock.ts';
import { PrefixCache } from './evaluate.ts';
import { fineTune } from './fineTune.ts';
import { paramsFromSource } from './fromChain.ts';
import type { Gemm } from './gemm/types.ts';
import { Lineage, lineageSource } from './lineage.ts';
import { type AcceptedDelta, validateDelta } from './pol.ts';
import { validationSpecOf } from './polValidationSet.ts';

export interface MineOptions {
  readonly store: BlockStore;
  readonly model: ModelEntry;
  readonly kernels: Kernels;
  readonly gemm: Gemm;
  /** The miner's private key: it signs the delta blocks and its address picks the shard. */
  readonly privateKey: Uint8Array;
  /** Experts to train, e.g. ["layer1.expert3"]; default: one expert picked from the round's seed. */
  readonly experts?: readonly string[];
  readonly steps: number;
  /** Default 1e-3. */
  readonly lr?: number;
  /** Sequences per step (default 8). */
  readonly batch?: number;
  /** Default: derived from the round's seed. */
  readonly seed?: number;
  /** Keep only the k largest |values| per row of each delta tensor (default: dense int8). */
  readonly topKPerRow?: number;
  /** Build and validate, but append nothing. */
  readonly dryRun?: boolean;
  readonly onStep?: (step: number, loss: number) => void;
  readonly onPhase?: (phase: 'shard' | 'train' | 'validate', detail: string) => void;
}

export interface MinedDelta {
  readonly component: string;
  readonly block: string;
  readonly deltaBytes: number;
  readonly rawBytes: number;
  /** The fraction of the trained update submitted (1, or less after a line search; see LINE_SEARCH). */
  readonly stepScale: number;
  readonly accepted: boolean;
  /** On acceptance: the validation losses and reward record. */
  readonly result?: AcceptedDelta;
  /** On rejection: the reason code and message. */
  readonly rejection?: { readonly code: string; readonly message: string };
  readonly snapshot: string | null;
}

export interface MineResult {
  readonly model: string;
  readonly miner: string;
  readonly round: number;
  readonly dataset: string;
  readonly shard: Shard;
  readonly shardTokens: number;
  readonly experts: readonly string[];
  readonly steps: number;
  readonly seed: number;
  readonly trainLossBefore: number;
  readonly trainLossAfter: number;
  readonly trainSeconds: number;
  readonly deltas: readonly MinedDelta[];
}

/** Fractions of the trained update tried in turn until one lowers the validation loss by δ. */
const LINE_SEARCH = [1, 0.5, 0.25] as const;

/** base + scale · (next − base), in f32. */
function towards(base: Float32Array | undefined, next: Float32Array, scale: number): Float32Array {
  if (base === undefined || base.length !== next.length) throw new BlyanError('MODEL_SHAPE_MISMATCH', 'trained tensor does not match its base version');
  const out = new Float32Array(next.length);
  for (let i = 0; i < next.length; i++) out[i] = (base[i] as number) + scale * ((next[i] as number) - (base[i] as number));
  return out;
}

/** A u32 from SHA-256 of the parts: every "random" choice of the miner is derived from chain data this way. */
function derive(...parts: (string | number)[]): number {
  const h = sha256(new TextEncoder().encode(`blyan/mine/v1\0${parts.join('\0')}`));
  return new DataView(h.buffer, h.byteOffset, 4).getUint32(0);
}

/**
 * The part of the dataset a miner may train on: whole chunks before the first validation window, so no
 * miner ever trains on the windows validators measure. Returns the number of bytes (a chunk multiple).
 */
function trainableBytes(content: Uint8Array, chunkSize: number, firstWindowToken: number, decodePrefix: (n: number) => string): number {
  const prefixBytes = new TextEncoder().encode(decodePrefix(firstWindowToken)).byteLength;
  return Math.min(content.byteLength, Math.floor(prefixBytes / chunkSize) * chunkSize);
}

export async function mine(o: MineOptions): Promise<MineResult> {
  const { store, model } = o;
  if (!Number.isSafeInteger(o.steps) || o.steps < 1) throw new BlyanError('BAD_ARGUMENT', `--steps must be a whole number ≥ 1, got ${o.steps}`);
  const spec = validationSpecOf(model);
  const datasetId = Uint8Array.from(Buffer.from(spec.dataset, 'hex')) as Hash;
  const { meta, content } = readDataset(store, datasetId);
  const miner = addressOf(o.privateKey);
  const minerHex = `0x${toHex(miner)}`;
  const experts = o.experts ?? [defaultExpert(model, minerHex, store)];
  for (const e of experts) {
    const c = model.meta.layout.find((x) => x.name === e);
    if (c === undefined || c.type !== 'expert') {
      throw new BlyanError('BAD_ARGUMENT', `${e} is not an expert of model ${model.meta.name} (experts are named like layer0.expert3)`);
    }
  }
  if (new Set(experts).size !== experts.length) throw new BlyanError('BAD_ARGUMENT', 'an expert is named twice in --experts');

  // The round: how many versions the first chosen expert has had. A new version moves every miner to a new shard.
  const round = store.lineage(model.id, experts[0] as string).length;
  o.onPhase?.('shard', `round ${round}`);
  const decodeText = (bytes: Uint8Array) => new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  let encode: (text: string) => number[];
  let decode: (ids: readonly number[]) => string;
  if (spec.tokenizer === 'bytes') {
    encode = (text) => [...new TextEncoder().encode(text)];
    decode = (ids) => decodeText(Uint8Array.from(ids));
  } else {
    const tok = await loadTokenizer(store, model);
    encode = tok.encode;
    decode = tok.decode;
  }
  const firstWindow = Math.min(...spec.offsets);
  const allTokens = encode(decodeText(content));
  const trainable = trainableBytes(content, meta.chunkSize, firstWindow, (n) => decode(allTokens.slice(0, n)));
  if (trainable < meta.chunkSize) {
    throw new BlyanError('BAD_ARGUMENT', `dataset ${meta.name} has no whole chunk before its first validation window: nothing to train on`);
  }
  const shard = shardFor({ id: datasetId, size: trainable, chunkSize: meta.chunkSize }, miner, round);
  const tokens = Int32Array.from(encode(decodeText(shardBytes(content, shard))));
  const seed = o.seed ?? derive(model.idHex, minerHex, round);

  const lineage = new Lineage(store);
  const params = await paramsFromSource(model.meta.config, lineageSource(store, model, lineage), { context: spec.context });
  o.onPhase?.('train', `${experts.join(', ')} on shard ${shard.index}/${shard.shards} (${tokens.length} tokens)`);
  const t0 = performance.now();
  const tuned = fineTune({
    params,
    experts,
    tokens,
    steps: o.steps,
    seed,
    gemm: o.gemm,
    lr: o.lr ?? 1e-3,
    batch: o.batch ?? 8,
    context: spec.context,
    ...(o.onStep === undefined ? {} : { onStep: o.onStep }),
  });
  const trainSeconds = (performance.now() - t0) / 1000;

  const deltas: MinedDelta[] = [];
  const prefixCache = new PrefixCache();
  for (const trained of tuned.experts) {
    o.onPhase?.('validate', trained.component);
    const base = store.currentVersion(model.id, trained.component);
    if (base === undefined) throw new BlyanError('NOT_FOUND', `no version of ${trained.component} to build on`);
    const baseMats = new Map(lineage.materialize(base).map((m) => [m.name, m]));
    const full = trained.tensors.map((t) => ({ name: t.key, rows: t.shape[0] as number, cols: t.shape[1] as number, values: t.data }));
    // A short line search along the trained direction: the full step first, then half and a quarter of it when
    // the full step does not lower the public validation loss by δ (the step overshot what this shard can teach).
    let mined: MinedDelta | undefined;
    for (const scale of LINE_SEARCH) {
      const newTensors = scale === 1 ? full : full.map((t) => ({ ...t, values: towards(baseMats.get(t.name)?.values, t.values, scale) }));
      const built = buildDeltaBlock({
        store,
        model,
        component: trained.component,
        base,
        newTensors,
        manifestFields: {
          dataset: datasetId,
          shards: [shard.index],
          steps: o.steps,
          lr: o.lr ?? 1e-3,
          seed,
          trainLossBefore: tuned.lossBefore,
          trainLossAfter: tuned.lossAfter,
        },
        signer: o.privateKey,
        lineage,
        ...(o.topKPerRow === undefined ? {} : { compress: { topK: { k: o.topKPerRow, per: 'row' as const } } }),
      });
      const common = {
        component: trained.component,
        block: toHex(built.block.id),
        deltaBytes: built.size.encodedBytes,
        rawBytes: built.size.rawBytes,
        stepScale: scale,
        snapshot: built.snapshot === undefined ? null : toHex(built.snapshot.block.id),
      };
      try {
        const result = await validateDelta({ store, kernels: o.kernels, lineage, prefixCache }, built.block, built.payload, {
          ...(built.snapshot === undefined ? {} : { snapshot: built.snapshot }),
          ...(o.dryRun === true ? { dryRun: true } : {}),
        });
        mined = { ...common, accepted: true, result };
        break;
      } catch (err) {
        if (!(err instanceof BlyanError)) throw err;
        mined = { ...common, accepted: false, rejection: { code: err.code, message: err.message } };
        if (err.code !== 'DELTA_NO_IMPROVEMENT') break;
      }
    }
    deltas.push(mined as MinedDelta);
  }
  return {
    model: model.idHex,
    miner: minerHex,
    round,
    dataset: spec.dataset,
    shard,
    shardTokens: tokens.length,
    experts,
    steps: o.steps,
    seed,
    trainLossBefore: tuned.lossBefore,
    trainLossAfter: tuned.lossAfter,
    trainSeconds,
    deltas,
  };
}

/** One expert, chosen from (model, miner, number of blocks on chain B) so miners spread over experts. */
function defaultExpert(model: ModelEntry, minerHex: string, store: BlockStore): string {
  const experts = model.meta.layout.filter((c) => c.type === 'expert').map((c) => c.name);
  if (experts.length === 0) throw new BlyanError('MODEL_UNSUPPORTED', `model ${model.meta.name} has no routed experts to mine`);
  const height = store.height('B');
  return experts[derive(model.idHex, minerHex, height) % experts.length] as string;
}
