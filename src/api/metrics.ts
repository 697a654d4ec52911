import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { CHAINS } from '../chain/types.ts';
import type { BlockStore } from '../chain/store.ts';
import type { EngineHost } from '../node/engineHost.ts';
import { HttpMetrics } from './httpMetrics.ts';

/**
 * Prometheus metrics of one node (`GET /metrics`). Each node has its own registry, so several nodes in one
 * process (tests) do not mix their numbers. Chain heights and cache counters are read when scraped.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  /** Requests and latency per route: counted on every request, so outside prom-client (httpMetrics.ts). */
  readonly http = new HttpMetrics();
  readonly tokens: Counter<'endpoint'>;
  readonly tokensPerSecond: Histogram<'endpoint'>;
  readonly timeToFirstToken: Histogram<'endpoint'>;
  readonly charged: Counter;
  readonly pol: Counter<'result'>;

  constructor(store: BlockStore, engine: EngineHost) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'blyan_process_' });
    this.tokens = new Counter({ name: 'blyan_chat_tokens_total', help: 'Tokens generated, by endpoint', labelNames: ['endpoint'], registers });
    this.tokensPerSecond = new Histogram({ name: 'blyan_chat_tokens_per_second', help: 'Generation speed of finished answers', labelNames: ['endpoint'], buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000], registers });
    this.timeToFirstToken = new Histogram({ name: 'blyan_chat_time_to_first_token_seconds', help: 'Time from request to first token', labelNames: ['endpoint'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers });
    this.charged = new Counter({ name: 'blyan_chat_charged_base_units_total', help: 'Fees captured for answers (base units; float, for dashboards only)', registers });
    this.pol = new Counter({ name: 'blyan_pol_deltas_total', help: 'Delta validations by result', labelNames: ['result'], registers });
    new Gauge({
      name: 'blyan_chain_height',
      help: 'Blocks in each chain (index of the head + 1)',
      labelNames: ['chain'],
      registers,
      collect() {
        for (const c of CHAINS) {
          const head = store.headOf(c);
          this.set({ chain: c }, head === undefined ? 0 : head.header.index + 1);
        }
      },
    });
    const cache = (name: string, help: string, pick: (s: ReturnType<EngineHost['cacheStats']>) => number, counter: boolean) =>
      new Gauge({
        name,
        help: counter ? `${help} (a total since start; exposed as a gauge because it is read from the engine)` : help,
        registers,
        collect() {
          this.set(pick(engine.cacheStats()));
        },
      });
    cache('blyan_expert_cache_hits', 'Expert cache hits', (s) => s.hits, true);
    cache('blyan_expert_cache_misses', 'Expert cache misses (expert loaded from the store)', (s) => s.misses, true);
    cache('blyan_expert_cache_bytes', 'Bytes of experts in the cache', (s) => s.bytes, false);
  }

  /** Counts every request under its route pattern (never the raw URL, which would explode the label set). */
  instrument(app: FastifyInstance): void {
    // A callback hook: cheaper than an async one on every request.
    app.addHook('onResponse', (req, reply, done) => {
      this.http.record(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  }

  /** The text for `GET /metrics`: prom-client's metrics and the HTTP ones. */
  async exposition(): Promise<string> {
    return `${await this.registry.metrics()}\n${this.http.exposition()}`;
  }
}
