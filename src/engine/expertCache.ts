import type { ComponentWeights, ExpertSource } from './expertSource.ts';

export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly bytes: number;
  readonly budgetBytes: number;
  readonly entries: number;
}

/**
 * LRU cache of loaded experts with a byte budget. Entries larger than the budget are still returned
 * (and not kept), so a model bigger than the budget answers, only slower. Also counts how often each
 * expert is used per layer: the API shows it and rewards are paid on it.
 */
export class ExpertCache {
  private readonly entries = new Map<string, ComponentWeights>();
  private readonly usage = new Map<string, number>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(
    private readonly source: ExpertSource,
    readonly budgetBytes: number,
  ) {}

  async get(name: string): Promise<ComponentWeights> {
    this.usage.set(name, (this.usage.get(name) ?? 0) + 1);
    const hit = this.entries.get(name);
    if (hit !== undefined) {
      this.hits++;
      // Map iteration order is insertion order: re-inserting marks it most recently used.
      this.entries.delete(name);
      this.entries.set(name, hit);
      return hit;
    }
    this.misses++;
    const loaded = await this.source.load(name);
    if (loaded.bytes <= this.budgetBytes) {
      while (this.bytes + loaded.bytes > this.budgetBytes && this.entries.size > 0) {
        const [oldest, w] = this.entries.entries().next().value as [string, ComponentWeights];
        this.entries.delete(oldest);
        this.bytes -= w.bytes;
        this.evictions++;
      }
      this.entries.set(name, loaded);
      this.bytes += loaded.bytes;
    }
    return loaded;
  }

  stats(): CacheStats {
    return { hits: this.hits, misses: this.misses, evictions: this.evictions, bytes: this.bytes, budgetBytes: this.budgetBytes, entries: this.entries.size };
  }

  /** Calls per component since start, e.g. {"layer0.expert3": 12}. */
  usageCounts(): Record<string, number> {
    return Object.fromEntries(this.usage);
  }
}
