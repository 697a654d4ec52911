import type { Database } from 'lmdb';
import { equalBytes, type Hash, toHex } from '../chain/hash.ts';
import type { Preset } from '../chain/presets.ts';
import type { AppendItem, BlockStore } from '../chain/store.ts';
import type { Block } from '../chain/types.ts';
import { BlyanError } from '../errors.ts';
import { checkIncoming } from './blockGate.ts';
import { checkLedgerBlock } from './blockRules.ts';
import { type BatchPlan, type ChainEntry, type IdempotencyRecord, type LedgerStore, type LedgerView, StaleHeadError } from './ledgerStore.ts';
import type { LedgerParams } from './params.ts';
import { paramsScheduleOf } from './paramsSchedule.ts';
import { type Account, type Hold, type LedgerDiff, type LedgerReader, type Posting, quotaKey } from './state.ts';
import { accountFromJson, accountToJson, holdFromJson, holdToJson, postingFromJson, postingToJson } from './stateCodec.ts';
import type { StateKeys } from './storeKeys.ts';
import { accountsToLoad, LedgerSnapshot } from './storeSnapshot.ts';
import { type Hex20, hexAddress } from './systemAccounts.ts';
import type { Hex32 } from './txTypes.ts';

/**
 * The embedded LedgerStore: one side database ("ledger") in the block store's LMDB environment, so a
 * chain-C block and the state it produces commit in one LMDB transaction (appendBatch's `alsoWrite`).
 *
 *   h                         last applied chain C index
 *   a/<addr>                  account            q/<quoteId>        hold
 *   u/<addr>/<day>            free requests used  p/<reward key>     reward paid
 *   j/<block>/<seq>           posting (journal)   x/<addr>/<block>/<seq>  history index (both sides)
 *   i/<key>                   idempotency record (node-local)
 * Block and sequence numbers are zero-padded so keys sort in chain order.
 *
 * Besides the asynchronous LedgerStore interface it keeps synchronous reads (LedgerReader, history, scans):
 * an embedded store answers them without a round trip, and callers that only ever run on LMDB (the CLI over a
 * data dir) use them directly. Everything here runs in one process: writeBatch is synchronous underneath, so
 * nothing can commit between its snapshot and its write.
 */
const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
const pad = (n: number, w: number): string => String(n).padStart(w, '0');
const EMPTY = Buffer.alloc(0);

/** A chain-C block whose state this store has just committed (its own batch, or one caught up from the block store). */
export interface AppliedBlock {
  readonly index: number;
  /** Block id, hex. */
  readonly id: string;
  readonly time: number;
  /** Who produced the block (the ledger producer's node key). */
  readonly author: Hex20;
  /** The block's transactions, in order. */
  readonly txIds: readonly Hex32[];
}

/**
 * Diffs of checked chain-C blocks kept until catch-up applies them. Catch-up is lazy, so during a sync many batches
 * may be stored before the ledger applies any; each batch's check needs the state at its parent, and without the
 * diffs it would re-run every stored, unapplied block. Bounded by blocks and by transactions (a diff's size).
 */
const CHECKED_MAX_BLOCKS = 4096;
const CHECKED_MAX_TXS = 200_000;

export class LmdbLedgerStore implements LedgerStore, LedgerReader {
  readonly kind = 'lmdb';
  readonly preset: Preset;
  private readonly db: Database<Buffer, string>;
  private readonly appliedListeners = new Set<(b: AppliedBlock) => void>();
  /** Block id (hex) → the diff the gate computed for it, and the parameters object it was computed with. */
  private readonly checked = new Map<string, { readonly params: LedgerParams; readonly diff: LedgerDiff }>();
  private checkedTxs = 0;
  /** The block this store's own writeBatch is appending: its state is being written with it, nothing to check. */
  private producing: Hash | undefined;

  constructor(
    readonly blocks: BlockStore,
    readonly params: LedgerParams,
  ) {
    this.preset = blocks.preset;
    this.db = blocks.sideDb('ledger');
  }

  private getText(key: string): string | undefined {
    const v = this.db.get(key);
    return v === undefined ? undefined : Buffer.from(v).toString('utf8');
  }

  private *range(prefix: string, reverse = false, limit?: number): Generator<{ key: string; value: string }> {
    // '/' + 1 = '0': the end key of a prefix range.
    const end = `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}`;
    const opts = reverse ? { start: end, end: prefix, reverse: true } : { start: prefix, end };
    let n = 0;
    for (const { key, value } of this.db.getRange(limit === undefined ? opts : { ...opts, limit })) {
      if (reverse && key === end) continue;
      yield { key, value: Buffer.from(value).toString('utf8') };
      if (limit !== undefined && ++n >= limit) return;
    }
  }

  height(): number {
    const h = this.getText('h');
    return h === undefined ? -1 : Number(h);
  }

  account(addr: Hex20): Account | undefined {
    const t = this.getText(`a/${addr}`);
    return t === undefined ? undefined : accountFromJson(t);
  }

  hold(quoteId: Hex32): Hold | undefined {
    const t = this.getText(`q/${quoteId}`);
    return t === undefined ? undefined : holdFromJson(t);
  }

  quotaUsed(addr: Hex20, day: number): number {
    const t = this.getText(`u/${addr}/${day}`);
    return t === undefined ? 0 : Number(t);
  }

  rewardPaid(key: string): boolean {
    return this.db.doesExist(`p/${key}`);
  }

  idempotency(key: string): IdempotencyRecord | undefined {
    const t = this.getText(`i/${key}`);
    return t === undefined ? undefined : (JSON.parse(t) as IdempotencyRecord);
  }

  write(diff: LedgerDiff, idempotency: readonly IdempotencyRecord[] = []): void {
    const height = this.height();
    if (diff.block !== height + 1) {
      throw new BlyanError('STORE_CORRUPT', `ledger is at C:${height}; cannot write the state of C:${diff.block}`, { height, block: diff.block });
    }
    const db = this.db;
    for (const [addr, acc] of diff.accounts) db.putSync(`a/${addr}`, enc(accountToJson(acc)));
    for (const [id, h] of diff.holds) db.putSync(`q/${id}`, enc(holdToJson(h)));
    for (const [key, used] of diff.quotas) db.putSync(`u/${key}`, enc(String(used)));
    for (const key of diff.rewardsPaid) db.putSync(`p/${key}`, EMPTY);
    for (const p of diff.postings) {
      const at = `${pad(p.block, 10)}/${pad(p.seq, 8)}`;
      db.putSync(`j/${at}`, enc(postingToJson(p)));
      db.putSync(`x/${p.from}/${at}`, EMPTY);
      if (p.to !== p.from) db.putSync(`x/${p.to}/${at}`, EMPTY);
    }
    for (const r of idempotency) db.putSync(`i/${r.key}`, enc(JSON.stringify(r)));
    db.putSync('h', enc(String(diff.block)));
  }

  /**
   * Idempotency records written apart from a block: a follower learns that its forwarded transaction was
   * included when the producer's block arrives, and records the key then (node-local, never audited).
   */
  recordIdempotency(records: readonly IdempotencyRecord[]): void {
    if (records.length === 0) return;
    this.db.transactionSync(() => {
      for (const r of records) this.db.putSync(`i/${r.key}`, enc(JSON.stringify(r)));
    });
  }

  /**
   * Calls `fn` after each chain-C block's state is committed, whoever wrote it; returns the unsubscribe. Listeners
   * run synchronously inside whatever read triggered the catch-up, so they must not read the store themselves
   * (schedule the work instead).
   */
  onApplied(fn: (b: AppliedBlock) => void): () => void {
    this.appliedListeners.add(fn);
    return () => this.appliedListeners.delete(fn);
  }

  private notifyApplied(header: { index: number; time: number; author: Uint8Array }, id: Uint8Array, txIds: readonly Hex32[]): void {
    if (this.appliedListeners.size === 0) return;
    const b: AppliedBlock = { index: header.index, id: Buffer.from(id).toString('hex'), time: header.time, author: hexAddress(header.author), txIds };
    for (const fn of this.appliedListeners) {
      try {
        fn(b);
      } catch {
        // A listener's failure is its own; the block is committed either way.
      }
    }
  }

  history(addr: Hex20, limit = 100): Posting[] {
    const out: Posting[] = [];
    const prefix = `x/${addr}/`;
    for (const { key } of this.range(prefix, true, limit)) {
      const t = this.getText(`j/${key.slice(prefix.length)}`);
      if (t === undefined) throw new BlyanError('STORE_CORRUPT', `history index names a missing posting ${key}`);
      out.push(postingFromJson(t));
    }
    return out;
  }

  *accounts(): Iterable<[Hex20, Account]> {
    for (const { key, value } of this.range('a/')) yield [key.slice(2) as Hex20, accountFromJson(value)];
  }

  *holds(): Iterable<Hold> {
    for (const { value } of this.range('q/')) yield holdFromJson(value);
  }

  *quotaEntries(): Iterable<[string, number]> {
    for (const { key, value } of this.range('u/')) yield [key.slice(2), Number(value)];
  }

  *paidRewards(): Iterable<string> {
    for (const { key } of this.range('p/')) yield key.slice(2);
  }

  *postings(): Iterable<Posting> {
    for (const { value } of this.range('j/')) yield postingFromJson(value);
  }

  transaction<T>(fn: () => T): T {
    return this.db.transactionSync(fn);
  }

  /**
   * Refuses, from now on, every chain-C block the block store would gain from elsewhere (gossip, sync) that
   * breaks a ledger rule against the state at its parent (src/ledger/blockGate.ts): the block store's append
   * fails with LEDGER_NOT_PRODUCER or LEDGER_BLOCK_INVALID and stores nothing. Returns the removal.
   */
  guardAppends(): () => void {
    return this.blocks.addAppendCheck((items) => this.checkAppend(items));
  }

  /** Runs inside the block store's write transaction: every read sees the store as the batch will extend it. */
  private checkAppend(items: readonly AppendItem[]): void {
    const own = this.producing;
    const foreign = items.filter((it) => it.block.header.chain === 'C' && (own === undefined || !equalBytes(it.block.id, own)));
    if (foreign.length === 0) return;
    const schedule = paramsScheduleOf(this.blocks, this.params);
    checkIncoming(foreign, {
      state: this,
      height: this.height(),
      stored: (i) => this.storedBlock(i),
      payloadOf: (hash) => this.blocks.getPayload(hash),
      paramsAt: (t) => schedule.at(t),
      known: (block, p) => this.knownDiff(block, p),
      remember: (block, p, diff) => this.remember(toHex(block.id), p, diff),
    });
  }

  private remember(id: string, params: LedgerParams, diff: LedgerDiff): void {
    this.forget(id);
    while (this.checked.size > 0 && (this.checked.size >= CHECKED_MAX_BLOCKS || this.checkedTxs + diff.txIds.length > CHECKED_MAX_TXS)) {
      this.forget(this.checked.keys().next().value as string);
    }
    this.checked.set(id, { params, diff });
    this.checkedTxs += diff.txIds.length;
  }

  private forget(id: string): void {
    const hit = this.checked.get(id);
    if (hit === undefined) return;
    this.checked.delete(id);
    this.checkedTxs -= hit.diff.txIds.length;
  }

  /** A diff is reused only under the very parameters object it was computed with (chain A unchanged since). */
  private knownDiff(block: Block, p: LedgerParams): LedgerDiff | undefined {
    const hit = this.checked.get(toHex(block.id));
    return hit !== undefined && hit.params === p && hit.diff.block === block.header.index ? hit.diff : undefined;
  }

  private storedBlock(i: number): { block: Block; payload: Uint8Array } {
    const id = this.blocks.idAt('C', i);
    const block = id === undefined ? undefined : this.blocks.getBlock(id);
    if (block === undefined) throw new BlyanError('STORE_CORRUPT', `chain C has no block at ${i}`);
    const payload = block.header.payloadSize === 0 ? new Uint8Array(0) : this.blocks.getPayload(block.header.payloadHash);
    if (payload === undefined) throw new BlyanError('STORE_CORRUPT', `payload of C:${i} is missing`);
    return { block, payload };
  }

  /**
   * Applies every chain-C block above the ledger's height (blocks that arrived by another path: gossip or sync on
   * a follower, an archive import), each in its own transaction, with the same rules as the gate (the producer
   * rule and every transaction). A block that breaks one stops the ledger there (LEDGER_NOT_PRODUCER,
   * LEDGER_BLOCK_INVALID); on a node whose appends are guarded no such block is stored in the first place.
   */
  catchUp(): number {
    const head = this.blocks.headOf('C');
    if (head === undefined) return 0;
    let applied = 0;
    while (this.height() < head.header.index) {
      const done = this.transaction(() => {
        const { block, payload } = this.storedBlock(this.height() + 1);
        const p = paramsScheduleOf(this.blocks, this.params).at(block.header.time);
        // The diff the gate computed for this block at its arrival, against this same state, if still kept.
        const diff = this.knownDiff(block, p) ?? checkLedgerBlock(this, block.header, payload, p);
        this.forget(toHex(block.id));
        this.write(diff);
        return { block, txIds: diff.txIds };
      });
      this.notifyApplied(done.block.header, done.block.id, done.txIds);
      applied++;
    }
    return applied;
  }

  // ---- LedgerStore (asynchronous interface) ----

  /** Synchronous load: the ledger is first brought up to the chain-C head. */
  loadSync(keys: StateKeys): LedgerSnapshot {
    this.catchUp();
    const head = this.blocks.headOf('C');
    if (head === undefined) throw new BlyanError('STORE_NOT_INITIALISED', 'chain C has no genesis');
    if (this.height() !== head.header.index) throw new BlyanError('STORE_CORRUPT', `ledger is at C:${this.height()}, chain C at C:${head.header.index}`);
    const holds = new Map<Hex32, Hold>();
    for (const q of keys.holds) {
      const h = this.hold(q);
      if (h !== undefined) holds.set(q, h);
    }
    const accounts = new Map<Hex20, Account>();
    for (const a of accountsToLoad(keys, holds.values())) {
      const acc = this.account(a);
      if (acc !== undefined) accounts.set(a, acc);
    }
    const quotas = new Map<string, number>();
    for (const addr of keys.quotaAddrs) {
      for (const { key, value } of this.range(`u/${addr}/`)) {
        const day = Number(key.slice(key.lastIndexOf('/') + 1));
        if (day >= keys.quotaFromDay) quotas.set(quotaKey(addr, day), Number(value));
      }
    }
    const rewardsPaid = new Set([...keys.rewards].filter((k) => this.rewardPaid(k)));
    const idempotency = new Map<string, IdempotencyRecord>();
    for (const k of keys.idempotency) {
      const r = this.idempotency(k);
      if (r !== undefined) idempotency.set(k, r);
    }
    return new LedgerSnapshot({ height: head.header.index, id: head.id, time: head.header.time }, keys, { accounts, holds, quotas, rewardsPaid, idempotency });
  }

  async load(keys: StateKeys): Promise<LedgerSnapshot> {
    return this.loadSync(keys);
  }

  /** The block and its state commit in one LMDB transaction (appendBatch's alsoWrite), as before PostgreSQL existed. */
  writeBatchSync(keys: StateKeys, build: (snap: LedgerSnapshot) => BatchPlan | undefined): boolean {
    const snap = this.loadSync(keys);
    const plan = build(snap);
    if (plan === undefined) return false;
    const head = this.blocks.headOf('C');
    if (head === undefined || !equalBytes(head.id, snap.head.id)) throw new StaleHeadError('another writer appended to chain C');
    this.producing = plan.block.id;
    try {
      this.blocks.appendBatch([{ block: plan.block, payload: plan.payload }], {
        alsoWrite: () => {
          if (this.height() !== snap.head.height) throw new StaleHeadError(`ledger state moved to C:${this.height()}`);
          this.write(plan.diff, plan.idempotency);
        },
      });
    } finally {
      this.producing = undefined;
    }
    this.notifyApplied(plan.block.header, plan.block.id, plan.diff.txIds);
    return true;
  }

  async writeBatch(keys: StateKeys, build: (snap: LedgerSnapshot) => BatchPlan | undefined): Promise<boolean> {
    return this.writeBatchSync(keys, build);
  }

  async historyOf(addr: Hex20, limit: number): Promise<Posting[]> {
    return this.history(addr, limit);
  }

  chainFromSync(from: number, limit: number): ChainEntry[] {
    const out: ChainEntry[] = [];
    for (const { block } of this.blocks.iterate('C', from, limit)) {
      const payload = block.header.payloadSize === 0 ? new Uint8Array(0) : this.blocks.getPayload(block.header.payloadHash);
      if (payload === undefined) throw new BlyanError('STORE_CORRUPT', `payload of C:${block.header.index} is missing`);
      out.push({ block, payload });
    }
    return out;
  }

  async chainFrom(from: number, limit: number): Promise<ChainEntry[]> {
    return this.chainFromSync(from, limit);
  }

  /**
   * The view's iterables are synchronous underneath: awaiting them only runs microtasks, so no Ledger flush
   * (scheduled with setImmediate) can commit while `fn` walks them.
   */
  async withView<T>(fn: (view: LedgerView) => Promise<T>): Promise<T> {
    this.catchUp();
    const self = this;
    const view: LedgerView = {
      height: this.height(),
      async *chain() {
        for (let i = 0; ; i += 64) {
          const page = self.chainFromSync(i, 64);
          yield* page;
          if (page.length < 64) return;
        }
      },
      accounts: async function* () {
        yield* self.accounts();
      },
      holds: async function* () {
        yield* self.holds();
      },
      quotas: async function* () {
        yield* self.quotaEntries();
      },
      paidRewards: async function* () {
        yield* self.paidRewards();
      },
      postings: async function* () {
        yield* self.postings();
      },
    };
    return fn(view);
  }

  /** The block store belongs to the caller (it opened it); nothing to release here. */
  async close(): Promise<void> {}
}
