import { createBlock } from '../chain/block.ts';
import { addressOf } from '../chain/sign.ts';
import { toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import { BlyanError } from '../errors.ts';
import { applyTx } from './apply.ts';
import { importChain } from './chainImport.ts';
import { type FollowerOptions, LedgerFollower } from './follower.ts';
import { type BatchPlan, type IdempotencyRecord, type LedgerStore, StaleHeadError, type TxReceipt } from './ledgerStore.ts';
import { LmdbLedgerStore } from './lmdbStore.ts';
import { Mempool, type MempoolStats, type MempoolVerdict } from './mempool.ts';
import { StateOverlay } from './overlay.ts';
import { type LedgerParams, ledgerParamsFor } from './params.ts';
import { paramsScheduleOf } from './paramsSchedule.ts';
import type { Account, Hold, Posting } from './state.ts';
import { KeySet } from './storeKeys.ts';
import { precheckKeys, precheckTx } from './precheck.ts';
import type { LedgerSnapshot } from './storeSnapshot.ts';
import { type Hex20, hexAddress } from './systemAccounts.ts';
import { type AnyTx, ledgerDomain, toHex0x, verifyTx } from './tx.ts';
import { encodeBatch, MAX_TXS_PER_BATCH } from './txCodec.ts';
import type { Hex32 } from './txTypes.ts';

/**
 * The ledger service: takes signed transactions, applies them to committed state one by one (a failing
 * one is refused alone), and commits the accepted ones as one chain-C `txbatch` block together with the
 * state it produces (group commit). Within a process batches run one at a time; across processes sharing a
 * PostgreSQL ledger the store's write lock orders them (docs/ledger.md §9). Either way a balance is checked
 * and charged against the state the block is built on, so it can never be overdrawn.
 *
 * Idempotency (docs/ledger.md §7.4): a submission with a key that already succeeded returns the first
 * receipt and changes nothing; Authorize, Capture and Release are keyed by their quote id by default. The
 * records are read under the store's write lock, so two processes racing with one key cannot both charge.
 */
export interface LedgerOptions {
  /** Signs the txbatch blocks this node produces (any key: block authorship carries no ledger rights). Read-only without it. */
  readonly producerKey?: Uint8Array;
  readonly params?: LedgerParams;
  readonly now?: () => number;
  readonly maxBatch?: number;
  /** Bound of the producer's mempool of gossiped transactions (default 10,000). */
  readonly maxMempool?: number;
}

/**
 * Who writes chain C (docs/ledger.md §9.4): a producer batches transactions into blocks signed with its key; a
 * follower never does, it forwards transactions to the producer and applies the producer's blocks; a read-only
 * ledger (CLI reads) takes no transaction.
 */
export type LedgerMode = 'producer' | 'follower' | 'read-only';

/** What GET /ledger/status shows. */
export interface LedgerStatus {
  readonly mode: LedgerMode;
  readonly store: LedgerStore['kind'];
  /** This node's chain-C head (for PostgreSQL, its block store's mirror). */
  readonly height: number;
  readonly head: string | null;
  /** Who produced the head block (a producer's own node key; a follower's producer), null at genesis. */
  readonly producer: Hex20 | null;
  /** Producer: the gossiped transactions pool. */
  readonly mempool: MempoolStats | null;
  /** Follower: transactions forwarded and waiting for a block, and how long each may wait. */
  readonly waiting: number | null;
  readonly timeoutMs: number | null;
}

export interface SubmitOptions {
  /** Defaults to `<kind>/<quoteId>` for Authorize, Capture and Release; other kinds are not keyed by default. */
  readonly idempotencyKey?: string;
}

/** What a read names; see Ledger.read. */
export interface ReadKeys {
  readonly accounts?: readonly Hex20[];
  readonly holds?: readonly Hex32[];
  readonly quotaAddrs?: readonly Hex20[];
  readonly rewards?: readonly string[];
  readonly idempotency?: readonly string[];
}

interface Pending {
  readonly tx: AnyTx;
  readonly key: string | undefined;
  readonly resolve: (r: TxReceipt) => void;
  readonly reject: (err: unknown) => void;
}

interface Verified {
  readonly p: Pending;
  readonly txId: Hex32;
}

/** How one attempt at a batch ended, settled only once the store has answered. */
interface Outcome {
  readonly done: [Pending, TxReceipt][];
  readonly refused: [Pending, unknown][];
  readonly accepted: Pending[];
  receipts: TxReceipt[];
  plan: BatchPlan | undefined;
}

/** A batch is rebuilt on the new head this many times at most when a writer outside the protocol moved it. */
const MAX_ATTEMPTS = 5;

export function defaultIdempotencyKey(tx: AnyTx): string | undefined {
  if (tx.kind === 'Authorize' || tx.kind === 'Capture' || tx.kind === 'Release') return `${tx.kind}/${tx.message.quoteId}`;
  return undefined;
}

export class Ledger<S extends LedgerStore = LmdbLedgerStore> {
  readonly params: LedgerParams;
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Map<string, { kind: string; from: string; promise: Promise<TxReceipt> }>();
  private scheduled = false;
  private running = false;
  private readonly now: () => number;
  private readonly maxBatch: number;
  private readonly commitListeners = new Set<(block: number) => void>();
  private follower: LedgerFollower | undefined;
  /** True while syncChain appends the PostgreSQL ledger's own blocks (guardAppends lets exactly those through). */
  private mirroring = false;
  private pokeScheduled = false;
  /** The producer's pool of gossiped transactions (undefined without a producer key; idle while following). */
  readonly mempool: Mempool | undefined;
  /** The address of the producer key (the author of the blocks this ledger makes). */
  private readonly producerAddress: Uint8Array | undefined;

  private constructor(
    readonly store: S,
    /** This process's block store (chain C is mirrored into it from a PostgreSQL ledger by syncChain). */
    readonly blocks: BlockStore,
    private readonly opts: LedgerOptions,
  ) {
    this.params = store.params;
    this.now = opts.now ?? Date.now;
    this.maxBatch = Math.min(opts.maxBatch ?? 5_000, MAX_TXS_PER_BATCH);
    this.producerAddress = opts.producerKey === undefined ? undefined : addressOf(opts.producerKey);
    if (opts.producerKey !== undefined) {
      const lmdb = store instanceof LmdbLedgerStore ? store : undefined;
      this.mempool = new Mempool({
        submit: (tx) => this.submit(tx),
        // On LMDB the state reads synchronously, so gossip gets its verdict at once; PostgreSQL admits and lets the batch refuse.
        check:
          lmdb === undefined
            ? undefined
            : (tx, txId) => {
                const now = this.now();
                precheckTx(lmdb.loadSync(precheckKeys(tx, now)), tx, now, (t) => this.paramsAt(t), txId);
              },
        ...(opts.maxMempool === undefined ? {} : { maxPending: opts.maxMempool }),
      });
    }
  }

  /** The embedded ledger over a block store (LMDB), brought up to the chain-C head. */
  static open(blocks: BlockStore, opts: LedgerOptions = {}): Ledger<LmdbLedgerStore> {
    const store = new LmdbLedgerStore(blocks, opts.params ?? ledgerParamsFor(blocks.preset));
    store.catchUp();
    return new Ledger(store, blocks, opts);
  }

  /** A ledger over any store (PostgreSQL: several processes share one ledger). Parameters come from the store. */
  static over<T extends LedgerStore>(store: T, blocks: BlockStore, opts: Omit<LedgerOptions, 'params'> = {}): Ledger<T> {
    if (blocks.preset.genesisId !== store.preset.genesisId) {
      throw new BlyanError('STORE_GENESIS_MISMATCH', `the ledger store belongs to ${store.preset.network}, the block store to ${blocks.preset.network}`);
    }
    return new Ledger(store, blocks, opts);
  }

  get mode(): LedgerMode {
    return this.follower !== undefined ? 'follower' : this.opts.producerKey !== undefined ? 'producer' : 'read-only';
  }

  /**
   * Makes this ledger a follower (docs/ledger.md §9.4): submissions are checked against this node's view,
   * handed to `opts.relay` and settled when a chain-C block from the producer holds them. Only an LMDB ledger can
   * follow (a PostgreSQL ledger is written by its own processes). A producing ledger stops producing (production
   * moved elsewhere, see `produce`): what it had queued is forwarded like any submission.
   */
  follow(opts: FollowerOptions): LedgerFollower {
    if (!(this.store instanceof LmdbLedgerStore)) {
      throw new BlyanError('BAD_ARGUMENT', 'a ledger follower keeps its state in its data dir (LMDB); a PostgreSQL ledger is written by its own processes, which produce chain C');
    }
    this.follower?.stop();
    const follower = new LedgerFollower(this.store, (t) => this.paramsAt(t), { now: this.now, ...opts });
    this.follower = follower;
    for (const p of this.queue.splice(0)) follower.submit(p.tx, p.key).then(p.resolve, p.reject);
    return follower;
  }

  /**
   * A follower that holds a producer key starts producing (chain A names it the producer from now on): the
   * submissions still waiting for the old producer's block are queued here, and the next batch is this node's
   * block. No-op when already producing.
   */
  produce(): void {
    if (this.opts.producerKey === undefined) throw new BlyanError('BAD_ARGUMENT', 'this ledger was opened without a producer key; it cannot produce chain C');
    const follower = this.follower;
    if (follower === undefined) return;
    this.follower = undefined;
    for (const w of follower.handOver()) this.queue.push(w);
    this.schedule();
  }

  /** Calls `fn` with the index of every chain-C block this producer commits; returns the unsubscribe. */
  onCommit(fn: (block: number) => void): () => void {
    this.commitListeners.add(fn);
    return () => this.commitListeners.delete(fn);
  }

  /**
   * The verdict on a transaction that came by gossip (signature and domain already checked): a producer
   * offers it to its mempool; a follower forwards it unless it breaks a stateless rule; read-only ignores it.
   */
  gossipTx(tx: AnyTx, txId: string): MempoolVerdict {
    if (this.follower !== undefined) return this.follower.relayVerdict(tx, txId);
    if (this.mempool !== undefined) return this.mempool.offer(tx, txId);
    return 'ignore';
  }

  /**
   * A chain-C block may have arrived (gossip): a follower applies it soon (outside the caller, which may be a
   * gossip validator) rather than at its next poll.
   */
  poke(): void {
    if (this.follower === undefined || this.pokeScheduled) return;
    this.pokeScheduled = true;
    setImmediate(() => {
      this.pokeScheduled = false;
      this.follower?.poke();
    });
  }

  /**
   * Follower: runs `fn` if a block still holds `txId` after its submission failed with
   * LEDGER_PRODUCER_UNREACHABLE (see LedgerFollower.whenIncluded). False on a producer (nothing arrives late).
   */
  whenIncluded(txId: Hex32, fn: (r: TxReceipt) => void): boolean {
    return this.follower?.whenIncluded(txId, fn) ?? false;
  }

  status(): LedgerStatus {
    const head = this.blocks.headOf('C');
    return {
      mode: this.mode,
      store: this.store.kind,
      height: head?.header.index ?? -1,
      head: head === undefined ? null : toHex(head.id),
      producer: head === undefined || head.header.index === 0 ? null : hexAddress(head.header.author),
      mempool: this.follower === undefined ? (this.mempool?.stats() ?? null) : null,
      waiting: this.follower?.pending ?? null,
      timeoutMs: this.follower?.timeoutMs ?? null,
    };
  }

  /** Stops a follower's timers (its waiting submissions are refused); the store is closed by closeLedger. */
  stop(): void {
    this.follower?.stop();
  }

  submit(tx: AnyTx, opts: SubmitOptions = {}): Promise<TxReceipt> {
    const key = opts.idempotencyKey ?? defaultIdempotencyKey(tx);
    // The same key twice in this process shares one result; the stored records are checked in the batch,
    // under the store's lock, where another process's record is visible too.
    if (key !== undefined) {
      const running = this.inFlight.get(key);
      if (running !== undefined) {
        if (running.kind !== tx.kind || running.from !== tx.message.from) return Promise.reject(conflict(key));
        return running.promise;
      }
    }
    // A follower never produces: it forwards and waits for the producer's block (docs/ledger.md §9.4).
    const promise =
      this.follower !== undefined
        ? this.follower.submit(tx, key)
        : new Promise<TxReceipt>((resolve, reject) => {
            this.queue.push({ tx, key, resolve, reject });
          });
    if (key !== undefined) {
      this.inFlight.set(key, { kind: tx.kind, from: tx.message.from, promise });
      const forget = () => this.inFlight.delete(key);
      promise.then(forget, forget);
    }
    if (this.follower === undefined) this.schedule();
    return promise;
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.running = true;
      this.runBatch().finally(() => {
        this.running = false;
        if (this.queue.length > 0) this.schedule();
      });
    });
  }

  /** Applies up to maxBatch queued transactions and commits the accepted ones as one block. Never throws. */
  private async runBatch(): Promise<void> {
    const batch = this.queue.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    const producerKey = this.opts.producerKey;
    if (producerKey === undefined) {
      for (const p of batch) p.reject(new BlyanError('BAD_ARGUMENT', 'this ledger was opened read-only (no producer key)'));
      return;
    }
    // T1–T3 before taking the store's lock: recovering signatures is most of a transaction's cost.
    const domain = ledgerDomain(this.params.chainId);
    const live: Verified[] = [];
    for (const p of batch) {
      try {
        live.push({ p, txId: toHex0x(verifyTx(p.tx, domain)) });
      } catch (err) {
        p.reject(err);
      }
    }
    if (live.length === 0) return;
    for (let attempt = 1; ; attempt++) {
      const now = this.now();
      const keys = new KeySet(now);
      for (const { p } of live) {
        keys.addTx(p.tx);
        if (p.key !== undefined) keys.idempotency.add(p.key);
      }
      let outcome: Outcome | undefined;
      try {
        await this.store.writeBatch(keys, (snap) => {
          outcome = this.build(snap, live, now, producerKey);
          return outcome.plan;
        });
      } catch (err) {
        // Nothing of this attempt was written. A head moved by someone else: rebuild on the new one.
        if (err instanceof StaleHeadError && attempt < MAX_ATTEMPTS) continue;
        settle(outcome, live, err);
        return;
      }
      settle(outcome, live, undefined);
      const plan = (outcome as Outcome | undefined)?.plan;
      if (plan !== undefined) {
        for (const fn of this.commitListeners) {
          try {
            fn(plan.block.header.index);
          } catch {
            // A listener's failure is its own; the block is committed.
          }
        }
      }
      return;
    }
  }

  /** Runs under the store's write lock: pure and synchronous over the snapshot. */
  private build(snap: LedgerSnapshot, live: readonly Verified[], now: number, producerKey: Uint8Array): Outcome {
    const out: Outcome = { done: [], refused: [], accepted: [], receipts: [], plan: undefined };
    const index = snap.head.height + 1;
    const time = Math.max(now, snap.head.time);
    const overlay = new StateOverlay(snap, index, time);
    // Every validator applies this block with the parameters in force at its time (chain A `params` blocks).
    const params = this.paramsAt(time);
    // Chain A names the ledger producer: a node configured to produce that is not it refuses (every other node
    // would refuse its block, rule C1) instead of forking chain C. Thrown here, nothing is written.
    if (params.producer !== null) {
      const me = hexAddress(this.producerAddress ?? addressOf(producerKey));
      if (me !== params.producer) {
        throw new BlyanError(
          'LEDGER_NOT_PRODUCER',
          `this node (${me}) is configured to produce chain C, but chain A's params name ${params.producer} the ledger producer from ${new Date(time).toISOString()}: it refuses to fork chain C; run it as a follower (--ledger-producer off) or hand production over with a params block`,
          { author: me, producer: params.producer },
        );
      }
    }
    const ids: Hex32[] = [];
    for (const { p, txId } of live) {
      if (p.key !== undefined) {
        const done = snap.idempotency(p.key);
        if (done !== undefined) {
          if (done.kind !== p.tx.kind || done.from !== p.tx.message.from) out.refused.push([p, conflict(p.key)]);
          else out.done.push([p, done.receipt]);
          continue;
        }
      }
      try {
        applyTx(overlay, p.tx, out.accepted.length, params, txId);
        out.accepted.push(p);
        ids.push(txId);
      } catch (err) {
        out.refused.push([p, err]);
      }
    }
    if (out.accepted.length === 0) return out;
    const payload = encodeBatch(out.accepted.map((p) => p.tx));
    const block = createBlock({ chain: 'C', index, prev: snap.head.id, deps: [], type: 'txbatch', time }, payload, producerKey, this.blocks.preset);
    const blockId = toHex(block.id);
    out.receipts = out.accepted.map((p, i): TxReceipt => ({ txId: ids[i] as Hex32, kind: p.tx.kind, from: p.tx.message.from, block: index, blockId, index: i }));
    const idempotency: IdempotencyRecord[] = [];
    for (const [i, p] of out.accepted.entries()) {
      if (p.key !== undefined) idempotency.push({ key: p.key, kind: p.tx.kind, from: p.tx.message.from, receipt: out.receipts[i] as TxReceipt });
    }
    out.plan = { block, payload, diff: overlay.diff(), idempotency };
    return out;
  }

  /**
   * The ledger producer chain A names at time `t` when this ledger is configured to produce and is not it (it then
   * refuses every batch with LEDGER_NOT_PRODUCER rather than fork chain C); undefined otherwise.
   */
  producerConflict(t: number = this.now()): Hex20 | undefined {
    if (this.producerAddress === undefined || this.follower !== undefined) return undefined;
    const named = this.paramsAt(t).producer;
    return named !== null && named !== hexAddress(this.producerAddress) ? named : undefined;
  }

  /** The economic parameters in force at block time `t`: the preset's, or a chain-A `params` block's (docs/ledger.md §6.1). */
  paramsAt(t: number): LedgerParams {
    return paramsScheduleOf(this.blocks, this.params).at(t);
  }

  // ---- reads (asynchronous: they work on every store) ----

  /** One consistent read of the named state (system accounts are always included). */
  read(keys: ReadKeys): Promise<LedgerSnapshot> {
    const k = new KeySet(this.now());
    for (const a of keys.accounts ?? []) k.accounts.add(a);
    for (const h of keys.holds ?? []) k.holds.add(h);
    for (const a of keys.quotaAddrs ?? []) k.quotaAddrs.add(a);
    for (const r of keys.rewards ?? []) k.rewards.add(r);
    for (const i of keys.idempotency ?? []) k.idempotency.add(i);
    return this.store.load(k);
  }

  async account(addr: Hex20): Promise<Account | undefined> {
    return (await this.read({ accounts: [addr] })).account(addr);
  }

  async hold(quoteId: Hex32): Promise<Hold | undefined> {
    return (await this.read({ holds: [quoteId] })).hold(quoteId);
  }

  async rewardPaid(key: string): Promise<boolean> {
    return (await this.read({ rewards: [key] })).rewardPaid(key);
  }

  /** Chain C index of the last committed block. */
  async height(): Promise<number> {
    return (await this.read({})).head.height;
  }

  history(addr: Hex20, limit = 100): Promise<Posting[]> {
    return this.store.historyOf(addr, limit);
  }

  /** Appends to this process's block store the chain-C blocks the store has and it lacks (verified as any block). */
  syncChain(): Promise<number> {
    return importChain(this.store, this.blocks, undefined, (items) => {
      this.mirroring = true;
      try {
        this.blocks.appendBatch(items);
      } finally {
        this.mirroring = false;
      }
    });
  }

  /**
   * From now on, a chain-C block the block store would gain from elsewhere (gossip, sync) is stored only if the
   * ledger can take it (docs/ledger.md §9.4). On LMDB: only if it keeps the ledger's rules against the state at
   * its parent (LmdbLedgerStore.guardAppends). On PostgreSQL, chain C is what the database holds, which the
   * processes sharing it write and this process mirrors (syncChain): a chain-C block from anywhere else is
   * refused with LEDGER_FOREIGN_BLOCK, as it could only make the mirror diverge. Returns the removal.
   */
  guardAppends(): () => void {
    if (this.store instanceof LmdbLedgerStore) return this.store.guardAppends();
    return this.blocks.addAppendCheck((items) => {
      if (this.mirroring) return;
      const c = items.find((it) => it.block.header.chain === 'C');
      if (c === undefined) return;
      throw new BlyanError(
        'LEDGER_FOREIGN_BLOCK',
        `chain-C block C:${c.block.header.index} not taken: this node's chain C is its PostgreSQL ledger's, written by the processes sharing it (docs/ledger.md §9.2)`,
        { block: c.block.header.index },
      );
    });
  }
}

function settle(outcome: Outcome | undefined, live: readonly Verified[], err: unknown): void {
  if (outcome === undefined) {
    for (const { p } of live) p.reject(err);
    return;
  }
  for (const [p, receipt] of outcome.done) p.resolve(receipt);
  for (const [p, why] of outcome.refused) p.reject(why);
  for (const [i, p] of outcome.accepted.entries()) {
    if (err === undefined) p.resolve(outcome.receipts[i] as TxReceipt);
    else p.reject(err);
  }
}

function conflict(key: string): BlyanError {
  return new BlyanError('LEDGER_IDEMPOTENCY_CONFLICT', `idempotency key "${key.slice(0, 80)}" was already used for another request`, { key });
}
