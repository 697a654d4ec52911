import { toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import { loadKernels } from '../engine/kernels/index.ts';
import type { Kernels } from '../engine/kernels/types.ts';
import { type ModelEntry, resolveModel } from '../engine/modelRegistry.ts';
import { MoeModel } from '../engine/moe.ts';
import { loadTokenizer, type TextCodec } from '../engine/tokenizer.ts';
import { isBlyanError } from '../errors.ts';
import { lineageSource } from '../learning/lineage.ts';
import { NodeError } from './nodeError.ts';
import { Serial } from './serial.ts';

export interface LoadedModel {
  readonly entry: ModelEntry;
  readonly model: MoeModel;
  /** null when the model was imported without tokenizer files. */
  readonly tokenizer: TextCodec | null;
}

export interface EngineHostOptions {
  readonly cacheBytes: number;
  readonly maxQueued: number;
}

/**
 * The engine as the node serves it: kernels and the model are loaded on the first chat (so `blyan up`
 * answers /health at once), one model is resident at a time, and generations run one after another
 * through a bounded queue, since they share the kernels' threads.
 */
export class EngineHost {
  private kernels: Promise<Kernels> | undefined;
  private loaded: { key: string; model: Promise<LoadedModel>; warming: Promise<unknown> } | undefined;
  private readonly serial: Serial;
  private stopping = false;

  constructor(
    private readonly store: BlockStore,
    private readonly opts: EngineHostOptions,
  ) {
    this.serial = new Serial(opts.maxQueued);
  }

  /** Runs `task` with exclusive use of the engine, on the model named by `ref` (or the only one). */
  async run<T>(ref: string | undefined, task: (m: LoadedModel) => Promise<T>): Promise<T> {
    if (this.stopping) throw new NodeError('NODE_STOPPING', 'the node is shutting down');
    const entry = resolveModel(this.store, ref);
    return this.serial.run(async () => task(await this.load(entry)));
  }

  private load(entry: ModelEntry): Promise<LoadedModel> {
    // Keyed by every component's current version: an accepted delta, snapshot or rollback (from this node or
    // from another process on the same data dir) makes a new current version, and the next answer must use it.
    const key = [entry.idHex, ...entry.meta.layout.map((c) => toHex(this.store.currentVersion(entry.id, c.name) ?? new Uint8Array(0)))].join('/');
    if (this.loaded?.key === key) return this.loaded.model;
    // Only reached inside the serial queue, so no generation is using the previous model.
    this.kernels ??= loadKernels({});
    const source = lineageSource(this.store, entry);
    const warming = source.warm().catch(() => undefined);
    const model = (async (): Promise<LoadedModel> => {
      const m = await MoeModel.load(entry.meta.config, source, await (this.kernels as Promise<Kernels>), { cacheBytes: this.opts.cacheBytes });
      let tokenizer: TextCodec | null = null;
      try {
        tokenizer = await loadTokenizer(this.store, entry);
      } catch (err) {
        if (!isBlyanError(err, 'ENGINE_BAD_INPUT')) throw err;
      }
      return { entry, model: m, tokenizer };
    })();
    // A failed load is not kept: the next request tries again.
    model.catch(() => {
      if (this.loaded?.model === model) this.loaded = undefined;
    });
    this.loaded = { key, model, warming };
    return model;
  }

  /** Waits for running generations, then releases the kernels. The store belongs to the caller. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.serial.drain();
    await this.loaded?.warming;
    const kernels = this.kernels;
    this.kernels = undefined;
    this.loaded = undefined;
    if (kernels !== undefined) await (await kernels).close();
  }
}
