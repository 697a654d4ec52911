import type { BlockStore } from '../chain/store.ts';
import type { ModelEntry } from '../engine/modelRegistry.ts';
import type { LoadOptions } from '../engine/moe.ts';
import { BlyanError } from '../errors.ts';
import type { TxRelay } from '../ledger/follower.ts';
import type { AnyTx } from '../ledger/tx.ts';
import type { Hex32 } from '../ledger/txTypes.ts';
import type { NatOptions } from '../p2p/host.ts';
import type { GossipVerdict, P2pNode, P2pStatus } from '../p2p/index.ts';
import { BlockAnnouncer } from './blockAnnouncer.ts';

export interface P2pServiceOptions {
  readonly store: BlockStore;
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly bootstrap: readonly string[];
  /** A worker syncs only the experts it hosts (plus chain A and what they depend on). */
  readonly experts?: readonly string[];
  /** NAT traversal (docs/sync-protocol.md §1.1). */
  readonly nat?: NatOptions;
  /** The bulk channel's port (docs/sync-protocol.md §6.1): 0 any, -1 none. Default 0. */
  readonly bulkPort?: number;
  /** A worker hosts experts for service nodes (`/blyan/expert/2`, docs/expert-rpc.md). */
  readonly hostExperts?: readonly string[] | 'all';
  /** The verdict on a gossiped transaction (the ledger's mempool or relay check; docs/ledger.md §9.4). */
  readonly onTx?: (tx: AnyTx, txId: string) => GossipVerdict;
  /** A gossiped block was accepted into the store (a follower applies chain-C blocks at once). */
  readonly onBlock?: () => void;
}

/** gossipsub refuses to publish a message id again for 2 minutes (its seen cache): a repeat goes by /blyan/tx/1. */
const REPUBLISH_AFTER_MS = 120_000;
/** How long a direct push of a transaction (`/blyan/tx/1`) may take per peer. */
const TX_PUSH_TIMEOUT_MS = 5_000;

/**
 * The node on the peer-to-peer network: the libp2p host from src/p2p (loaded only when the node starts it),
 * sync from the bootstrap peers, and gossip of every block this node's store gains.
 */
export class P2pService {
  private readonly published = new Map<Hex32, number>();
  private stopping = false;

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
      ...(o.nat === undefined ? {} : { nat: o.nat }),
      ...(o.bulkPort === undefined ? {} : { bulk: o.bulkPort < 0 ? (false as const) : { port: o.bulkPort } }),
      onEvent: (e) => {
        if (e.type === 'gossip-block' && e.verdict === 'accept' && e.id !== undefined) {
          announcer?.noteReceived(e.id);
          o.onBlock?.();
        }
      },
      ...(o.onTx === undefined ? {} : { onTx: o.onTx }),
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

  /** Gossips what the store gained now (the ledger producer calls it after each chain-C block). */
  announceNow(): void {
    this.announcer.poke();
  }

  /**
   * How a ledger follower reaches the producer: the transaction topic, and `/blyan/tx/1` when gossip did not
   * carry it (docs/ledger.md §9.4). Publishing waits (until the deadline) for a peer subscribed to the topic.
   * Gossipsub sends only over streams it has already opened, so a publish can reach nobody although a
   * subscriber is connected, and it refuses to send the same bytes again for two minutes: the transaction is
   * then pushed to subscribers directly, as it is when a submission is repeated inside those two minutes.
   */
  txRelay(): TxRelay {
    return {
      publish: async (tx, txId, deadline) => {
        while (this.stopping || this.p2p.txSubscribers() === 0) {
          if (this.stopping || Date.now() >= deadline) {
            throw new BlyanError('LEDGER_PRODUCER_UNREACHABLE', `no peer that takes transactions is connected; is the seed reachable? (transaction ${txId} was not sent)`, { txId });
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        const sent = this.published.get(txId);
        let why = 'sent by gossip before';
        if (sent === undefined || Date.now() - sent >= REPUBLISH_AFTER_MS) {
          if (this.published.size >= 10_000) this.published.delete(this.published.keys().next().value as Hex32);
          this.published.set(txId, Date.now());
          try {
            if ((await this.p2p.publishTx(tx)) > 0) return;
            why = 'gossip reached no peer';
          } catch (err) {
            why = `gossip failed: ${(err as Error).message}`;
          }
        }
        const timeoutMs = Math.max(1000, Math.min(TX_PUSH_TIMEOUT_MS, deadline - Date.now()));
        if ((await this.p2p.pushTx(tx, timeoutMs)) > 0) return;
        throw new BlyanError('LEDGER_PRODUCER_UNREACHABLE', `transaction ${txId} reached no peer (${why}, and no peer answered a direct push); retry in a moment`, { txId });
      },
    };
  }

  status(): P2pStatus {
    return this.p2p.status();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.announcer.stop();
    await this.p2p.stop();
  }
}
