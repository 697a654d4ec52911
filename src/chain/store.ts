import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase, type Transaction } from 'lmdb';
import { BlyanError } from '../errors.ts';
import { checkPayload, verifyStandalone } from './block.ts';
import { type ChainView, baseVersionOf, checkContext, lineageKey, modelOf, topoOrder } from './dag.ts';
import { decodeRecord, encodeRecord } from './encoding.ts';
import { genesisOf } from './genesis.ts';
import { equalBytes, fromHex, type Hash, toHex } from './hash.ts';
import type { Preset } from './presets.ts';
import { type Block, type BlockHeader, CHAINS, type ChainLetter, type LinearChain } from './types.ts';
import { tuneMallocForLmdb } from './mallocTuning.ts';

/**
 * The block store (LMDB). One environment, six sub-databases:
 *   records  block id → record (header bytes ‖ signature)
 *   payloads payload hash → payload bytes (stored once, whatever number of blocks share it)
 *   seq      chain letter ‖ u32be position → block id (A, C, D: position = index; B: arrival order)
 *   position block id → u32be position (the reverse of seq)
 *   lineage  "<model id>/<component>" → ids of every version, oldest first (the parameter index)
 *   meta     network identity (preset, chain id, genesis id)
 * An append writes all of them in one LMDB write transaction, which LMDB makes durable before it
 * returns: after a crash a block is either wholly present or absent.
 */
export interface AppendItem {
  readonly block: Block;
  /** Required when the payload is not empty and not already stored. */
  readonly payload?: Uint8Array | undefined;
}

export interface AppendOptions {
  /** Receipt time for the future-time rule; defaults to Date.now(). */
  readonly now?: number;
  /** Skip PoW, signature and payload checks when the caller has just done them (archive import). */
  readonly verified?: boolean;
  /** Called after each block's checks, for progress bars. */
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * Runs inside the same write transaction, after the blocks are written: side-database writes that must
   * commit with them or not at all (reward records, learning indexes). Throwing aborts the whole batch.
   */
  readonly alsoWrite?: () => void;
}

/**
 * A rule the owner of a store adds beyond the chain's (the ledger's rules for chain C, src/ledger/blockGate.ts).
 * It runs inside appendBatch's write transaction once every block of the batch passed the chain rules, with the
 * batch in the order it is written; throwing refuses the whole batch, so nothing it refuses is ever stored.
 */
export type AppendCheck = (items: readonly AppendItem[]) => void;

export interface StoredBlock {
  readonly block: Block;
  /** Position in the chain's local sequence (A, C, D: equals the header index). */
  readonly seq: number;
}

/**
 * lmdb-js returns a value either as a view on the memory map or in one buffer it reuses for every read (which
 * it marks `isGlobal`, and copies out of itself in getBinary): only the first outlives the next read.
 */
function inReusedBuffer(fast: Buffer): boolean {
  return (fast as Buffer & { isGlobal?: boolean }).isGlobal === true;
}

/** Payloads at least this large come back as views on the memory map; smaller ones are copied by lmdb. */
export const ZERO_COPY_MIN_BYTES = 16 * 1024 * 1024 + 1;

const HEADER_CACHE_MAX = 200_000;

function seqKey(chain: ChainLetter, seq: number): Buffer {
  const k = Buffer.alloc(5);
  k[0] = chain.charCodeAt(0);
  k.writeUInt32BE(seq, 1);
  return k;
}

export class BlockStore implements ChainView {
  readonly preset: Preset;
  readonly path: string;
  private readonly env: RootDatabase;
  private readonly records: Database<Buffer, Buffer>;
  private readonly payloads: Database<Buffer, Buffer>;
  private readonly seqDb: Database<Buffer, Buffer>;
  private readonly positionDb: Database<Buffer, Buffer>;
  private readonly lineageDb: Database<Buffer, string>;
  private readonly metaDb: Database<unknown, string>;
  private readonly heads = new Map<ChainLetter, { id: Hash; header: BlockHeader; seq: number }>();
  private readonly headerCache = new Map<string, BlockHeader>();
  private readonly appendChecks = new Set<AppendCheck>();

  private constructor(path: string, preset: Preset) {
    this.path = path;
    this.preset = preset;
    mkdirSync(path, { recursive: true });
    tuneMallocForLmdb();
    this.env = open({ path, maxDbs: 16, compression: false });
    this.records = this.env.openDB({ name: 'records', encoding: 'binary', keyEncoding: 'binary' });
    this.payloads = this.env.openDB({ name: 'payloads', encoding: 'binary', keyEncoding: 'binary' });
    this.seqDb = this.env.openDB({ name: 'seq', encoding: 'binary', keyEncoding: 'binary' });
    this.positionDb = this.env.openDB({ name: 'position', encoding: 'binary', keyEncoding: 'binary' });
    this.lineageDb = this.env.openDB({ name: 'lineage', encoding: 'binary' });
    this.metaDb = this.env.openDB({ name: 'meta', encoding: 'msgpack' });
  }

  /** Opens an initialised store; refuses one made for another network (STORE_GENESIS_MISMATCH). */
  static open(dataDir: string, preset: Preset): BlockStore {
    const store = new BlockStore(join(dataDir, 'chain'), preset);
    const genesis = store.metaDb.get('genesis');
    if (genesis === undefined) {
      store.closeSync();
      throw new BlyanError('STORE_NOT_INITIALISED', `no chain in ${dataDir}: run \`blyan init --data ${dataDir}\` first`);
    }
    store.assertNetwork();
    store.loadHeads();
    return store;
  }

  /** Creates the store with the preset's genesis blocks, or opens it if it already holds that network. */
  static init(dataDir: string, preset: Preset): { store: BlockStore; created: boolean } {
    const store = new BlockStore(join(dataDir, 'chain'), preset);
    if (store.metaDb.get('genesis') !== undefined) {
      store.assertNetwork();
      store.loadHeads();
      return { store, created: false };
    }
    const g = genesisOf(preset);
    store.env.transactionSync(() => {
      store.metaDb.putSync('preset', preset.name);
      store.metaDb.putSync('chainId', preset.chainId);
      store.metaDb.putSync('genesis', preset.genesisId);
    });
    store.appendBatch([g.a, g.c, g.d]);
    return { store, created: true };
  }

  /** Which preset a data dir was initialised with, without knowing it in advance. */
  static presetNameOf(dataDir: string): string | undefined {
    const env = open({ path: join(dataDir, 'chain'), maxDbs: 8, readOnly: false });
    try {
      const meta = env.openDB<unknown, string>({ name: 'meta', encoding: 'msgpack' });
      const name = meta.get('preset');
      return typeof name === 'string' ? name : undefined;
    } finally {
      env.close();
    }
  }

  private assertNetwork(): void {
    const genesis = this.metaDb.get('genesis');
    if (genesis !== this.preset.genesisId) {
      this.closeSync();
      throw new BlyanError(
        'STORE_GENESIS_MISMATCH',
        `this data dir belongs to the network with genesis ${String(genesis)}, not ${this.preset.network} (${this.preset.genesisId}); use another --data dir`,
        { stored: String(genesis), expected: this.preset.genesisId },
      );
    }
  }

  /**
   * Re-reads every chain's head from disk. Other threads and processes may append to the same store (the
   * node's learning worker, `blyan` commands), which this view's cached heads do not see until then.
   */
  refreshHeads(): void {
    this.heads.clear();
    this.loadHeads();
  }

  /**
   * The newest sequence number of a chain as it is on disk now (−1 when empty): one index read, so callers
   * can cache what they derive from a chain and still notice blocks other processes appended.
   */
  lastSeqOnDisk(chain: ChainLetter): number {
    const before = Buffer.from([chain.charCodeAt(0)]);
    for (const { key } of this.seqDb.getRange({ start: seqKey(chain, 0xffffffff), end: before, reverse: true, limit: 1 })) return (key as Buffer).readUInt32BE(1);
    return -1;
  }

  private loadHeads(): void {
    for (const chain of CHAINS) {
      // Reverse scans end exclusively, so stop at the bare chain prefix, which sorts before position 0.
      const before = Buffer.from([chain.charCodeAt(0)]);
      for (const { key, value } of this.seqDb.getRange({ start: seqKey(chain, 0xffffffff), end: before, reverse: true, limit: 1 })) {
        const seq = (key as Buffer).readUInt32BE(1);
        const id = new Uint8Array(value);
        const header = this.header(id);
        if (header === undefined) throw new BlyanError('STORE_CORRUPT', `sequence index of chain ${chain} names a missing block`);
        this.heads.set(chain, { id, header, seq });
      }
    }
  }

  // ---- ChainView ----

  header(id: Hash): BlockHeader | undefined {
    const key = toHex(id);
    const cached = this.headerCache.get(key);
    if (cached !== undefined) return cached;
    const block = this.getBlock(id);
    if (block === undefined) return undefined;
    if (this.headerCache.size >= HEADER_CACHE_MAX) this.headerCache.clear();
    this.headerCache.set(key, block.header);
    return block.header;
  }

  head(chain: LinearChain): { id: Hash; header: BlockHeader } | undefined {
    return this.heads.get(chain);
  }

  // ---- reads ----

  has(id: Hash): boolean {
    return this.records.doesExist(Buffer.from(id));
  }

  getBlock(id: Hash): Block | undefined {
    const rec = this.records.getBinary(Buffer.from(id));
    return rec === undefined ? undefined : decodeRecord(new Uint8Array(rec));
  }

  getRecord(id: Hash): Uint8Array | undefined {
    const rec = this.records.getBinary(Buffer.from(id));
    return rec === undefined ? undefined : new Uint8Array(rec);
  }

  hasPayload(payloadHash: Hash): boolean {
    return this.payloads.doesExist(Buffer.from(payloadHash));
  }

  /**
   * The payload bytes. Payloads of ≥ 16 MiB are returned as read-only views on LMDB's memory map
   * (no copy: an expert is usable the moment it is looked up); smaller ones are copies, because lmdb
   * hands those back in a buffer it reuses on the next read. Never write into the result.
   */
  getPayload(payloadHash: Hash): Uint8Array | undefined {
    const fast = this.payloads.getBinaryFast(Buffer.from(payloadHash));
    if (fast === undefined) return undefined;
    const view = new Uint8Array(fast.buffer, fast.byteOffset, fast.length);
    return fast.length >= ZERO_COPY_MIN_BYTES && !inReusedBuffer(fast) ? view : view.slice();
  }

  /**
   * Lends the payload's bytes until `release()` is called. `stable`: a view on LMDB's memory map, kept valid by
   * a read transaction held open until `release` (LMDB reuses no page a live reader may see) — for writing a
   * tile from the map straight to a socket whose send completes later. Not `stable`: lmdb handed the bytes back
   * in the buffer it reuses for every read (payloads under 16 MiB), valid only until the store is read again:
   * copy what you need at once. Never write into the view; call `release` (once is enough, more do nothing),
   * and soon: an open reader keeps LMDB from reusing the pages later writes free.
   */
  lendPayload(payloadHash: Hash): { view: Uint8Array; stable: boolean; release: () => void } | undefined {
    const txn = this.payloads.useReadTransaction();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      txn.done();
    };
    try {
      // lmdb-js reads in a given transaction (its types omit the option).
      const getInTxn = this.payloads.getBinaryFast as (this: Database<Buffer, Buffer>, id: Buffer, options: { transaction: Transaction }) => Buffer | undefined;
      const fast = getInTxn.call(this.payloads, Buffer.from(payloadHash), { transaction: txn });
      if (fast === undefined) {
        release();
        return undefined;
      }
      const view = new Uint8Array(fast.buffer, fast.byteOffset, fast.length);
      const stable = !inReusedBuffer(fast);
      if (!stable) release();
      return { view, stable, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * Read snapshots this process holds open (lendPayload's until released, and lmdb's own while a read is in
   * progress): for diagnostics and tests of code that lends.
   */
  openReadSnapshots(): number {
    const list = this.env.readerList();
    const pid = String(process.pid);
    return list
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols[0] === pid && cols[2] !== undefined && cols[2] !== '-').length;
  }

  /**
   * Lends the payload's bytes to `fn` without copying them into fresh memory: a view on LMDB's memory map
   * (≥ 16 MiB + 1) or on the one buffer lmdb reuses for every read (smaller payloads). The view is valid only
   * while `fn` runs, inside one read snapshot: `fn` must be synchronous, must not read or write the store
   * (the next read overwrites lmdb's buffer), must not keep the view or any subarray of it, and must never
   * write into it. Returns what `fn` returns, or undefined when the payload is absent.
   */
  withPayloadView<T>(payloadHash: Hash, fn: (view: Uint8Array) => T): T | undefined {
    const fast = this.payloads.getBinaryFast(Buffer.from(payloadHash));
    if (fast === undefined) return undefined;
    const result = fn(new Uint8Array(fast.buffer, fast.byteOffset, fast.length));
    if (result instanceof Promise) throw new TypeError('withPayloadView: the callback must be synchronous (the view ends when it returns)');
    return result;
  }

  /**
   * Brings payloads into memory on LMDB's background thread, so the first reads of a model do not stall
   * on page faults (a decode step touches hundreds of MB of experts).
   */
  async prefetchPayloads(payloadHashes: readonly Hash[]): Promise<void> {
    await this.payloads.prefetch(payloadHashes.map((h) => Buffer.from(h)));
  }

  /** The block at a position of a chain (A, C, D: its index; B: local arrival order). */
  idAt(chain: ChainLetter, seq: number): Hash | undefined {
    const v = this.seqDb.getBinary(seqKey(chain, seq));
    return v === undefined ? undefined : new Uint8Array(v);
  }

  /** Where a block sits in its chain's sequence (see idAt). */
  positionOf(id: Hash): number | undefined {
    const v = this.positionDb.getBinary(Buffer.from(id));
    return v === undefined ? undefined : v.readUInt32BE(0);
  }

  /** Number of blocks in a chain. */
  height(chain: ChainLetter): number {
    const h = this.heads.get(chain);
    return h === undefined ? 0 : h.seq + 1;
  }

  headOf(chain: ChainLetter): { id: Hash; header: BlockHeader; seq: number } | undefined {
    return this.heads.get(chain);
  }

  *iterate(chain: ChainLetter, from = 0, limit = Number.POSITIVE_INFINITY): Generator<StoredBlock> {
    let n = 0;
    for (const { key, value } of this.seqDb.getRange({ start: seqKey(chain, from), end: seqKey(chain, 0xffffffff) })) {
      if (n++ >= limit) return;
      const block = this.getBlock(new Uint8Array(value));
      if (block === undefined) throw new BlyanError('STORE_CORRUPT', `chain ${chain} position ${(key as Buffer).readUInt32BE(1)} names a missing block`);
      yield { block, seq: (key as Buffer).readUInt32BE(1) };
    }
  }

  /** Every version of a model component, oldest first; the last is current. */
  lineage(model: Hash, name: string): Hash[] {
    const v = this.lineageDb.getBinary(lineageKey(model, name));
    if (v === undefined) return [];
    const out: Hash[] = [];
    for (let i = 0; i < v.length; i += 32) out.push(new Uint8Array(v.subarray(i, i + 32)));
    return out;
  }

  currentVersion(model: Hash, name: string): Hash | undefined {
    return this.lineage(model, name).at(-1);
  }

  /** All parameter-index entries: key "<model hex>/<name>" → version count and current id. */
  *parameterIndex(): Generator<{ model: string; name: string; versions: number; current: Hash }> {
    for (const { key, value } of this.lineageDb.getRange({})) {
      const k = key as string;
      const slash = k.indexOf('/');
      yield { model: k.slice(0, slash), name: k.slice(slash + 1), versions: value.length / 32, current: new Uint8Array(value.subarray(value.length - 32)) };
    }
  }

  // ---- writes ----

  append(block: Block, payload?: Uint8Array, opts: AppendOptions = {}): StoredBlock {
    return this.appendBatch([{ block, payload }], opts)[0] as StoredBlock;
  }

  /**
   * Validates and appends blocks in one atomic transaction: either every block is accepted or nothing
   * is written. Blocks may come in any order; they are sorted so deps come first.
   */
  appendBatch(items: readonly AppendItem[], opts: AppendOptions = {}): StoredBlock[] {
    const now = opts.now ?? Date.now();
    const ordered = topoOrder(
      items.map((it) => ({ id: it.block.id, header: it.block.header, item: it })),
      (id) => this.has(id),
    ).map((x) => x.item);

    const stagedPayloads = new Set<string>();
    if (opts.verified !== true) {
      for (const { block, payload } of ordered) {
        verifyStandalone(block, this.preset, payload === undefined ? { now } : { payload, now });
      }
    }
    for (const { block, payload } of ordered) {
      const key = toHex(block.header.payloadHash);
      if (payload === undefined && block.header.payloadSize > 0 && !stagedPayloads.has(key) && !this.hasPayload(block.header.payloadHash)) {
        throw new BlyanError('BLOCK_PAYLOAD_MISSING', `block ${toHex(block.id)} arrived without its ${block.header.payloadSize}-byte payload`);
      }
      if (payload === undefined && block.header.payloadSize === 0) checkPayload(block.header, new Uint8Array(0), this.preset);
      if (payload !== undefined || block.header.payloadSize === 0) stagedPayloads.add(key);
    }

    const overlay = new StagingView(this);
    const results: StoredBlock[] = [];
    this.env.transactionSync(() => {
      // Another thread or process may have appended since our heads were read (the node's learning worker,
      // a CLI command on the same data dir): positions and prevs must follow the heads on disk.
      this.refreshHeads();
      for (const [i, { block, payload }] of ordered.entries()) {
        checkContext(block, overlay, this.preset);
        const chain = block.header.chain;
        const seq = overlay.nextSeq(chain);
        this.records.putSync(Buffer.from(block.id), Buffer.from(encodeRecord(block)));
        if (payload !== undefined && payload.byteLength > 0 && !this.payloads.doesExist(Buffer.from(block.header.payloadHash))) {
          this.payloads.putSync(Buffer.from(block.header.payloadHash), Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
        }
        this.seqDb.putSync(seqKey(chain, seq), Buffer.from(block.id));
        const pos = Buffer.alloc(4);
        pos.writeUInt32BE(seq, 0);
        this.positionDb.putSync(Buffer.from(block.id), pos);
        if (chain === 'B' && block.header.expert !== null) {
          const key = lineageKey(modelOf(block.header, overlay), block.header.expert);
          const prev = this.lineageDb.getBinary(key);
          this.lineageDb.putSync(key, prev === undefined ? Buffer.from(block.id) : Buffer.concat([prev, Buffer.from(block.id)]));
        }
        overlay.add(block, seq);
        results.push({ block, seq });
        opts.onProgress?.(i + 1, ordered.length);
      }
      for (const check of this.appendChecks) check(ordered);
      opts.alsoWrite?.();
    });
    // Only after the commit do the in-memory views learn about the new blocks.
    for (const { block, seq } of results) {
      this.heads.set(block.header.chain, { id: block.id, header: block.header, seq });
    }
    return results;
  }

  /** Adds a rule every later appendBatch applies (see AppendCheck); returns its removal. */
  addAppendCheck(check: AppendCheck): () => void {
    this.appendChecks.add(check);
    return () => this.appendChecks.delete(check);
  }

  /**
   * A named side database in this LMDB environment (string keys, binary values) for indexes kept beside the
   * chain (src/learning/rewardRecords.ts, src/ledger/lmdbStore.ts); write it inside appendBatch's `alsoWrite`
   * to commit with blocks.
   */
  sideDb(name: 'learning' | 'ledger' | 'auth' | 'usage' | 'allowance' | 'sync'): Database<Buffer, string> {
    return this.env.openDB({ name, encoding: 'binary' });
  }

  /** Re-checks lineage membership for a component: used by verify. */
  baseVersion(header: BlockHeader): Hash | undefined {
    return baseVersionOf(header, this);
  }

  genesisId(): Hash {
    return fromHex(this.preset.genesisId, 32);
  }

  isGenesis(id: Hash): boolean {
    return equalBytes(id, this.genesisId());
  }

  async close(): Promise<void> {
    await this.env.close();
  }

  closeSync(): void {
    void this.env.close();
  }
}

/** Store contents plus the blocks of a batch being appended, so later blocks can see earlier ones. */
class StagingView implements ChainView {
  private readonly staged = new Map<string, BlockHeader>();
  private readonly stagedHeads = new Map<ChainLetter, { id: Hash; header: BlockHeader; seq: number }>();

  constructor(private readonly store: BlockStore) {}

  header(id: Hash): BlockHeader | undefined {
    return this.staged.get(toHex(id)) ?? this.store.header(id);
  }

  head(chain: LinearChain): { id: Hash; header: BlockHeader } | undefined {
    return this.stagedHeads.get(chain) ?? this.store.head(chain);
  }

  nextSeq(chain: ChainLetter): number {
    const h = this.stagedHeads.get(chain) ?? this.store.headOf(chain);
    return h === undefined ? 0 : h.seq + 1;
  }

  add(block: Block, seq: number): void {
    this.staged.set(toHex(block.id), block.header);
    this.stagedHeads.set(block.header.chain, { id: block.id, header: block.header, seq });
  }
}
