import { CHAINS, type ChainLetter } from '../chain/types.ts';
import type { BlockStore } from '../chain/store.ts';
import { toHex } from '../chain/hash.ts';

/** Largest payload that rides along with a gossiped block; bigger ones are fetched as tiles (docs/sync-protocol.md). */
const GOSSIP_PAYLOAD_MAX = 1024 * 1024;
const FRESH_MS = 120_000;

/**
 * Announces every block this node's store gains, whoever appended it: the ledger's batches, datasets, mined
 * deltas, params blocks, and blocks written by `blyan` commands on the same data dir. Polls the on-disk
 * sequence of each chain (one index read per chain) rather than hooking every writer. Blocks that came in by
 * gossip or sync are announced again at most once, which gossipsub's message-id dedup absorbs.
 */
export class BlockAnnouncer {
  private readonly seen = new Map<ChainLetter, number>();
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  private readonly received = new Set<string>();
  private stopped = false;

  constructor(
    private readonly store: BlockStore,
    private readonly publish: (block: Parameters<BlockStore['append']>[0], payload?: Uint8Array) => Promise<unknown>,
    intervalMs = 500,
  ) {
    for (const c of CHAINS) this.seen.set(c, store.lastSeqOnDisk(c));
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.tick()).catch(() => undefined);
    }, intervalMs);
    this.timer.unref();
  }

  /** Announces what the store gained now rather than at the next tick (the ledger producer just committed a block). */
  poke(): void {
    if (this.stopped) return;
    this.running = this.running.then(() => this.tick()).catch(() => undefined);
  }

  /** A block that arrived from the network: no need to announce it back. */
  noteReceived(id: string): void {
    if (this.received.size > 10_000) this.received.clear();
    this.received.add(id);
  }

  private async tick(): Promise<void> {
    for (const c of CHAINS) {
      const last = this.store.lastSeqOnDisk(c);
      const from = (this.seen.get(c) ?? -1) + 1;
      if (last < from) continue;
      for (const { block } of this.store.iterate(c, from, last - from + 1)) {
        const id = toHex(block.id);
        if (this.received.delete(id)) continue;
        // History that arrived by sync is old news: only fresh blocks are gossiped.
        if (Date.now() - block.header.time > FRESH_MS) continue;
        const size = block.header.payloadSize;
        const payload = size > 0 && size <= GOSSIP_PAYLOAD_MAX ? this.store.getPayload(block.header.payloadHash) : undefined;
        await this.publish(block, payload === undefined ? undefined : Uint8Array.from(payload)).catch(() => undefined);
      }
      this.seen.set(c, last);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}
