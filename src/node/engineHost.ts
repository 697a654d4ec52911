import { toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import { loadKernels } from '../engine/kernels/index.ts';
import type { Kernels } from '../engine/kernels/types.ts';
import { type ModelEntry, resolveModel } from '../engine/modelRegistry.ts';
import { type LoadOptions, MoeModel } from '../engine/moe.ts';
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
  /** Answers in progress at once beyond the first; more get 503 NODE_BUSY. */
  readonly maxQueued: number;
  /** Where a model's routed experts run (a service node: on workers); default here. Asked at each (re)load. */
  readonly runnerFor?: (entry: ModelEntry) => LoadOptions['runner'];
}

/** Runs one engine step (a forward pass) with the kernels to itself. */
export type Exclusive = <T>(step: () => Promise<T>) => Promise<T>;

/**
 * The engine as the node serves it: kernels and the model are loaded on the first chat (so `blyan up`
 * answers /health at once) and one model is resident at a time. Answers share the kernels' threads, so
 * every forward pass takes a FIFO lock: concurrent answers take turns token by token, and a long answer
 * does not hold up the first token of the ones that arrive after it.
 */
export class EngineHost {
  private kernels: Promise<Kernels> | undefined;
  private loaded: { key: string; model: Promise<LoadedModel>; warming: Promise<unknown> } | undefined;
  private readonly lock = new Serial(Number.POSITIVE_INFINITY);
  private readonly active = new Set<Promise<unknown>>();
  private stopping = false;
  /** Expert-cache counters of models replaced by a reload, so the totals only ever grow (Prometheus counters). */
  private retired = { hits: 0, misses: 0, evictions: 0 };
  private current: MoeModel | undefined;

  constructor(
    private readonly store: BlockStore,
    private readonly opts: EngineHostOptions,
  ) {
  }

  /**
   * Runs `task` on the model named by `ref` (or the only one). The task must run every forward pass through
   * `exclusive`; between passes other answers get their turn.
   */
  async run<T>(ref: string | undefined, task: (m: LoadedModel, exclusive: Exclusive) => Promise<T>): Promise<T> {
    if (this.stopping) throw new NodeError('NODE_STOPPING', 'the node is shutting down');
    const entry = resolveModel(this.store, ref);
    if (this.active.size > this.opts.maxQueued) throw new NodeError('NODE_BUSY', `the engine is busy with ${this.active.size} answers; try again shortly`);
    const exclusive: Exclusive = (step) => this.lock.run(step);
    const done = (async () => task(await this.lock.run(() => this.load(entry)), exclusive))();
    this.active.add(done);
    const forget = () => this.active.delete(done);
    done.then(forget, forget);
    return done;
  }

  private load(entry: ModelEntry): Promise<LoadedModel> {
    // Keyed by every component's current version: an accepted delta, snapshot or rollback (from this node or
    // from another process on the same data dir) makes a new current version, and the next answer must use it.
    const key = [entry.idHex, ...entry.meta.layout.map((c) => toHex(this.store.currentVersion(entry.id, c.name) ?? new Uint8Array(0)))].join('/');
    if (this.loaded?.key === key) return this.loaded.model;
    // Only reached under the lock; answers still running on the previous model keep it (their sessions belong to it).
    this.kernels ??= loadKernels({});
    const source = lineageSource(this.store, entry);
    const warming = source.warm().catch(() => undefined);
    const model = (async (): Promise<LoadedModel> => {
      const runner = this.opts.runnerFor?.(entry);
      const m = await MoeModel.load(entry.meta.config, source, await (this.kernels as Promise<Kernels>), { cacheBytes: this.opts.cacheBytes, ...(runner === undefined ? {} : { runner }) });
      this.retire();
      this.current = m;
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

  private retire(): void {
    if (this.current === undefined) return;
    const s = this.current.experts.stats();
    this.retired = { hits: this.retired.hits + s.hits, misses: this.retired.misses + s.misses, evictions: this.retired.evictions + s.evictions };
    this.current = undefined;
  }

  /** Expert-cache totals since the node started (for /metrics), and the current cache's size. */
  cacheStats(): { hits: number; misses: number; evictions: number; bytes: number; entries: number } {
    const s = this.current?.experts.stats();
    return {
      hits: this.retired.hits + (s?.hits ?? 0),
      misses: this.retired.misses + (s?.misses ?? 0),
      evictions: this.retired.evictions + (s?.evictions ?? 0),
      bytes: s?.bytes ?? 0,
      entries: s?.entries ?? 0,
    };
  }

  /** Waits for running generations, then releases the kernels. The store belongs to the caller. */
  async close(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.active]);
    await this.lock.drain();
    await this.loaded?.warming;
    const kernels = this.kernels;
    this.kernels = undefined;
    this.loaded = undefined;
    if (kernels !== undefined) await (await kernels).close();
  }
}
