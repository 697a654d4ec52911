import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../api/server.ts';
import type { BlockStore } from '../chain/store.ts';
import { openStore } from '../cli/openStore.ts';
import type { NodeConfig } from './config.ts';
import { EngineHost } from './engineHost.ts';

/**
 * A running Blyan node: the block store, the engine (loaded on the first chat) and the HTTP API.
 * start() brings them up in that order; stop() takes them down in reverse and is safe to call twice.
 */
export class BlyanNode {
  private stopped: Promise<void> | undefined;

  private constructor(
    readonly config: NodeConfig,
    readonly store: BlockStore,
    readonly engine: EngineHost,
    private readonly server: FastifyInstance,
    private readonly shutdown: AbortController,
  ) {}

  static async start(config: NodeConfig): Promise<BlyanNode> {
    const store = openStore(config.dataDir);
    const engine = new EngineHost(store, { cacheBytes: config.cacheMb * 1024 * 1024, maxQueued: config.maxQueuedChats });
    const shutdown = new AbortController();
    const server = buildServer({ store, engine, role: config.role, bodyLimit: config.bodyLimit, shutdown: shutdown.signal });
    try {
      await server.listen({ host: config.host, port: config.port });
    } catch (err) {
      await server.close().catch(() => undefined);
      await engine.close();
      await store.close();
      throw err;
    }
    return new BlyanNode(config, store, engine, server, shutdown);
  }

  /** The actual address (the port is chosen by the OS when configured as 0). */
  get url(): string {
    const addr = this.server.server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `http://${host}:${addr.port}`;
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      // Stop accepting, end running generations at their next token, let responses finish, then close.
      this.shutdown.abort();
      await this.server.close();
      await this.engine.close();
      await this.store.close();
    })();
    return this.stopped;
  }

  /** Stops the node on SIGTERM or SIGINT; resolves once it has stopped. */
  untilSignal(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onSignal = () => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        this.stop().then(resolve, reject);
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
  }
}
