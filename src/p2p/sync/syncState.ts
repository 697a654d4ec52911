import type { Database } from 'lmdb';
import { type Hash, toHex } from '../../chain/hash.ts';
import type { BlockStore } from '../../chain/store.ts';

/**
 * Resume bookkeeping for payload sync, in the store's `sync` side database (same LMDB environment as the
 * chain). A verified tile of an unfinished multi-tile payload is kept under
 *
 *   "tile/<payload hash hex>/<index, 8 decimal digits>" → tile bytes
 *
 * so a node killed halfway does not download it again. The tiles of a payload are deleted in the same
 * write transaction that appends its block (appendBatch's `alsoWrite`), so a payload is either still in
 * tiles here or whole in the store, never lost in between.
 */
const PREFIX = 'tile/';

function tileKey(payloadHex: string, index: number): string {
  return `${PREFIX}${payloadHex}/${String(index).padStart(8, '0')}`;
}

export class SyncState {
  private readonly db: Database<Buffer, string>;

  constructor(private readonly store: BlockStore) {
    this.db = store.sideDb('sync');
  }

  /** Indexes of the tiles of a payload already kept, with their bytes (copied out of LMDB). */
  storedTiles(payloadHash: Hash): Map<number, Uint8Array> {
    const hex = toHex(payloadHash);
    const out = new Map<number, Uint8Array>();
    const start = `${PREFIX}${hex}/`;
    for (const { key, value } of this.db.getRange({ start, end: `${start}~` })) {
      const index = Number.parseInt(key.slice(start.length), 10);
      if (Number.isSafeInteger(index)) out.set(index, new Uint8Array(value));
    }
    return out;
  }

  /** Keeps a verified tile; resolves once it is durable (counted as finished from then on). */
  async putTile(payloadHash: Hash, index: number, tile: Uint8Array): Promise<void> {
    await this.db.put(tileKey(toHex(payloadHash), index), Buffer.from(tile.buffer, tile.byteOffset, tile.byteLength));
  }

  /**
   * Runs `fn` in an asynchronous write transaction of the store's environment: `fn` runs on this thread (a
   * store write transaction inside it becomes a child transaction of this one), the commit and the sync to
   * disk run on LMDB's write thread. Resolves with `fn`'s result once the transaction is durable.
   */
  transaction<T>(fn: () => T): Promise<T> {
    return this.db.transaction(fn);
  }

  /** Deletes a payload's tiles; call inside the append transaction (`alsoWrite`). */
  removeTilesSync(payloadHash: Hash, count: number): void {
    const hex = toHex(payloadHash);
    for (let i = 0; i < count; i++) this.db.removeSync(tileKey(hex, i));
  }

  /** Drops kept tiles of payloads the store now has (finished by another path, e.g. an archive import). */
  prune(): number {
    let removed = 0;
    const done = new Set<string>();
    for (const { key } of this.db.getRange({ start: PREFIX, end: `${PREFIX}~` })) {
      const hex = key.slice(PREFIX.length, PREFIX.length + 64);
      if (done.has(hex) || this.store.hasPayload(Buffer.from(hex, 'hex'))) {
        done.add(hex);
        this.db.removeSync(key);
        removed++;
      }
    }
    return removed;
  }

  /** Number of tiles kept (for status). */
  tileCount(): number {
    let n = 0;
    for (const _ of this.db.getKeys({ start: PREFIX, end: `${PREFIX}~` })) n++;
    return n;
  }
}
