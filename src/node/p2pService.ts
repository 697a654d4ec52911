import type { BlockStore } from '../chain/store.ts';
import type { ModelEntry } from '../engine/modelRegistry.ts';
import type { LoadOptions } from '../engine/moe.ts';
import type { P2pNode, P2pStatus } from '../p2p/index.ts';
import { BlockAnnouncer } from './blockAnnouncer.ts';

export interface P2pServiceOptions {
  readonly store: BlockStore;
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly bootstrap: readonly string[];
  /** A worker syncs only the experts it hosts (plus chain A and what they depend on). */
  readonly experts?: readonly string[];
  /** A worker hosts experts for service nodes (`/blyan/expert/1`, docs/expert-rpc.md). */
  readonly hostExperts?: readonly string[] | 'all';
}

/**
 * The node on the peer-to-peer network: the libp2p host from src/p2p (loaded only when the node starts it),
 * sync from the bootstrap peers, and gossip of every block this node's store gains.
 */
export class P2pService {
  private constructor(
    readonly p2p: P2pNode,
    private readonly announcer: BlockAnnouncer,
  ) {}

  static async start(o: P2pServiceOptions): Promise<P2pService> {
    const { startP2p } = await import('../p2p/index.ts');
    let announcer: BlockAnnouncer | undefined;
    const ip = o.host.includes(':') ? `/ip6/${o.host}` : `/ip4/${o.host === 'localhost' ? '127.0.0.1' : o.host}`;
    const p2p = await startP2p({
      store: o.store,
      dataDir: o.dataDir,
      listen: [`${ip}/tcp/${o.port}`],
      bootstrap: o.bootstrap,
      ...(o.experts === undefined ? {} : { experts: o.experts }),
      ...(o.hostExperts === undefined ? {} : { hostExperts: o.hostExperts }),
      onEvent: (e) => {
        if (e.type === 'gossip-block' && e.verdict === 'accept' && e.id !== undefined) announcer?.noteReceived(e.id);
      },
    });
    announcer = new BlockAnnouncer(o.store, (block, payload) => p2p.publishBlock(block, payload));
    if (o.bootstrap.length > 0) void p2p.sync().catch(() => undefined);
    return new P2pService(p2p, announcer);
  }

  /**
   * For a service node: run routed experts on workers when any are known (spot-checked, with local
   * fallback), else undefined (the engine runs them here).
   */
  runnerFor(entry: ModelEntry): LoadOptions['runner'] {
    if (this.p2p.workers.snapshot().length === 0) return undefined;
    return this.p2p.expertRunner(entry, { spotCheck: 0.05, fallback: 'local' });
  }

  status(): P2pStatus {
    return this.p2p.status();
  }

  async stop(): Promise<void> {
    await this.announcer.stop();
    await this.p2p.stop();
  }
}
