import { BlyanError, isBlyanError } from '../errors.ts';
import type { IdempotencyRecord, TxReceipt } from './ledgerStore.ts';
import type { AppliedBlock, LmdbLedgerStore } from './lmdbStore.ts';
import type { LedgerParams } from './params.ts';
import { gossipVerdictOf, isFinalRefusal, precheckKeys, precheckTx } from './precheck.ts';
import { type AnyTx, ledgerDomain, toHex0x, verifyTx } from './tx.ts';
import type { Hex32 } from './txTypes.ts';

/** How a follower hands a transaction to the network (the node's gossip, docs/ledger.md §9.4). */
export interface TxRelay {
  /**
   * Publishes `tx` towards the ledger producer. Waits, until `deadline` (ms since the epoch) at most, for a peer
   * that takes transactions; throws LEDGER_PRODUCER_UNREACHABLE when none turned up.
   */
  publish(tx: AnyTx, txId: Hex32, deadline: number): Promise<void>;
}

export interface FollowerOptions {
  readonly relay: TxRelay;
  /** How long a submission waits for a chain-C block that holds it. */
  readonly timeoutMs: number;
  /** How often the store is brought up to the chain-C head while something waits (blocks that came by sync). */
  readonly pollMs?: number;
  /** Transactions waiting at once (default 10,000); beyond it submissions are refused with RATE_LIMITED. */
  readonly maxWaiting?: number;
  /** A timed-out transaction is still watched this long (default 10 min), in case a block holds it late. */
  readonly lateMs?: number;
  readonly now?: () => number;
}

interface Waiter {
  readonly tx: AnyTx;
  readonly txId: Hex32;
  readonly key: string | undefined;
  readonly promise: Promise<TxReceipt>;
  readonly resolve: (r: TxReceipt) => void;
  readonly reject: (err: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

interface Late {
  readonly tx: AnyTx;
  readonly key: string | undefined;
  readonly until: number;
  readonly callbacks: ((r: TxReceipt) => void)[];
}

const MAX_LATE = 10_000;

/**
 * A node that follows chain C (docs/ledger.md §9.4): it never produces a chain-C block. A submitted transaction
 * is checked against this node's view (the state of the chain-C blocks it has, from sync and gossip), published
 * to the network, and settled when a block that holds it is applied here:
 *  - resolved with its receipt (block, position) when a block holds it, its idempotency key recorded;
 *  - refused at once with the rule's error when this node's view shows it can never apply (a nonce already
 *    used, a quote already authorized, a hold already settled; see isFinalRefusal);
 *  - after `timeoutMs`, refused with the error the current state gives it, or, if it would still apply,
 *    LEDGER_PRODUCER_UNREACHABLE. Nothing was applied here in either case. It is watched a while longer: if a
 *    block holds it late, its key is recorded and whenIncluded callbacks run (billing releases a late hold).
 */
export class LedgerFollower {
  private readonly waiting = new Map<Hex32, Waiter>();
  private readonly late = new Map<Hex32, Late>();
  private readonly applied: AppliedBlock[] = [];
  private processing = false;
  private stopped = false;
  private readonly poller: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private readonly now: () => number;
  private readonly maxWaiting: number;
  private readonly lateMs: number;
  /** The author of the last chain-C block applied here (the producer this node follows), once one was seen. */
  producer: AppliedBlock['author'] | undefined;

  constructor(
    private readonly store: LmdbLedgerStore,
    private readonly paramsAt: (t: number) => LedgerParams,
    private readonly opts: FollowerOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.maxWaiting = opts.maxWaiting ?? 10_000;
    this.lateMs = opts.lateMs ?? 600_000;
    this.unsubscribe = store.onApplied((b) => {
      this.applied.push(b);
      this.schedule();
    });
    this.poller = setInterval(() => {
      this.forgetExpired();
      if (this.waiting.size > 0 || this.late.size > 0) this.poke();
    }, opts.pollMs ?? 250);
    this.poller.unref();
  }

  get timeoutMs(): number {
    return this.opts.timeoutMs;
  }

  /** Transactions waiting for a block. */
  get pending(): number {
    return this.waiting.size;
  }

  /** A block may have arrived: bring the ledger state up to the chain-C head now (applied blocks settle waiters). */
  poke(): void {
    if (this.stopped) return;
    try {
      this.store.catchUp();
    } catch {
      // A block that does not apply stays unapplied; every read reports it (STORE_CORRUPT / the rule's code).
    }
  }

  /**
   * Checks, publishes and waits for `tx` (see the class comment). `key` is the submission's idempotency key: a
   * key already recorded here returns its receipt (or LEDGER_IDEMPOTENCY_CONFLICT for another request).
   */
  submit(tx: AnyTx, key: string | undefined): Promise<TxReceipt> {
    if (this.stopped) return Promise.reject(new BlyanError('LEDGER_PRODUCER_UNREACHABLE', 'the node is stopping'));
    let txId: Hex32;
    try {
      // T1–T3 first: a transaction that cannot be valid is never forwarded.
      txId = toHex0x(verifyTx(tx, ledgerDomain(this.store.params.chainId)));
      const running = this.waiting.get(txId);
      if (running !== undefined) return running.promise;
      const now = this.now();
      const snap = this.store.loadSync(precheckKeys(tx, now, key));
      if (key !== undefined) {
        const done = snap.idempotency(key);
        if (done !== undefined) {
          if (done.kind !== tx.kind || done.from !== tx.message.from) throw conflict(key);
          return Promise.resolve(done.receipt);
        }
      }
      precheckTx(snap, tx, now, this.paramsAt, txId);
      if (this.waiting.size >= this.maxWaiting) {
        throw new BlyanError('RATE_LIMITED', `${this.waiting.size} transactions already wait for the ledger producer; retry later`);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.wait(tx, txId, key);
  }

  private wait(tx: AnyTx, txId: Hex32, key: string | undefined): Promise<TxReceipt> {
    let resolve!: (r: TxReceipt) => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<TxReceipt>((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    const deadline = this.now() + this.opts.timeoutMs;
    // Not unref'd: a caller is waiting for this answer (stop() clears it).
    const timer = setTimeout(() => this.expire(txId), this.opts.timeoutMs);
    this.late.delete(txId);
    this.waiting.set(txId, { tx, txId, key, promise, resolve, reject, timer });
    this.opts.relay.publish(tx, txId, deadline).catch((err: unknown) => {
      const w = this.waiting.get(txId);
      if (w === undefined) return;
      // No peer took it: the same as a timeout, reported now (and watched in case another path carries it).
      this.finish(w);
      this.watchLate(w.tx, txId, w.key);
      w.reject(isBlyanError(err) ? err : unreachable(txId, this.opts.timeoutMs, err));
    });
    return promise;
  }

  /**
   * Runs `fn` if a block holds `txId` although its submission here failed for want of a producer (a transaction
   * that timed out may still have reached one). Watched for `lateMs`; bounded, the oldest watch dropped first.
   * Returns false when this node is not waiting for or watching `txId` (nothing to run then).
   */
  whenIncluded(txId: Hex32, fn: (r: TxReceipt) => void): boolean {
    const late = this.late.get(txId);
    if (late !== undefined) {
      late.callbacks.push(fn);
      return true;
    }
    const w = this.waiting.get(txId);
    if (w === undefined) return false;
    void w.promise.then(fn, () => this.late.get(txId)?.callbacks.push(fn));
    return true;
  }

  /**
   * The gossip verdict for a transaction another node published: this node forwards what could be valid
   * (its view may lag the producer's) and rejects only what breaks a stateless rule.
   */
  relayVerdict(tx: AnyTx, txId: string): 'accept' | 'reject' {
    try {
      const now = this.now();
      precheckTx(this.store.loadSync(precheckKeys(tx, now)), tx, now, this.paramsAt, (txId.startsWith('0x') ? txId : `0x${txId}`) as Hex32);
      return 'accept';
    } catch (err) {
      return gossipVerdictOf(err, tx) === 'reject' ? 'reject' : 'accept';
    }
  }

  /**
   * Stops following and hands back, unsettled, the submissions still waiting for a block, for this node to
   * include itself: production moved here (chain A names this node the producer from now on, and the old
   * producer's blocks can no longer hold them, rule C1). Their callers keep waiting on the same promises.
   */
  handOver(): { readonly tx: AnyTx; readonly key: string | undefined; readonly resolve: (r: TxReceipt) => void; readonly reject: (err: unknown) => void }[] {
    const out = [...this.waiting.values()].map((w) => {
      this.finish(w);
      return { tx: w.tx, key: w.key, resolve: w.resolve, reject: w.reject };
    });
    this.stop();
    return out;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.poller);
    this.unsubscribe();
    for (const w of [...this.waiting.values()]) {
      this.finish(w);
      w.reject(new BlyanError('LEDGER_PRODUCER_UNREACHABLE', `the node stopped before a block held transaction ${w.txId}`, { txId: w.txId }));
    }
    this.late.clear();
  }

  private finish(w: Waiter): void {
    clearTimeout(w.timer);
    this.waiting.delete(w.txId);
  }

  private watchLate(tx: AnyTx, txId: Hex32, key: string | undefined): void {
    const prev = this.late.get(txId);
    if (this.late.size >= MAX_LATE && prev === undefined) this.late.delete(this.late.keys().next().value as Hex32);
    this.late.set(txId, { tx, key, until: this.now() + this.lateMs, callbacks: prev?.callbacks ?? [] });
  }

  private expire(txId: Hex32): void {
    const w = this.waiting.get(txId);
    if (w === undefined) return;
    this.poke();
    // The poke may have settled it (a block that came by sync and was not applied yet).
    if (this.waiting.get(txId) !== w) return;
    this.finish(w);
    this.watchLate(w.tx, txId, w.key);
    w.reject(this.refusalNow(w) ?? unreachable(txId, this.opts.timeoutMs));
  }

  /** The error the current state gives `w`'s transaction, or undefined if it would still apply. */
  private refusalNow(w: { tx: AnyTx; txId: Hex32 }): unknown {
    try {
      const now = this.now();
      precheckTx(this.store.loadSync(precheckKeys(w.tx, now)), w.tx, now, this.paramsAt, w.txId);
      return undefined;
    } catch (err) {
      return err;
    }
  }

  private forgetExpired(): void {
    const now = this.now();
    for (const [id, l] of this.late) if (l.until <= now) this.late.delete(id);
  }

  private schedule(): void {
    if (this.processing) return;
    this.processing = true;
    setImmediate(() => {
      this.processing = false;
      this.process();
    });
  }

  /** Settles what the applied blocks hold, then refuses the waiters the new state rules out for good. */
  private process(): void {
    const blocks = this.applied.splice(0);
    if (blocks.length === 0 || this.stopped) return;
    const records: IdempotencyRecord[] = [];
    const settled: [Waiter, TxReceipt][] = [];
    const lateRuns: [Late, TxReceipt][] = [];
    for (const b of blocks) {
      if (b.index > 0) this.producer = b.author;
      for (const [index, txId] of b.txIds.entries()) {
        const w = this.waiting.get(txId);
        const late = w === undefined ? this.late.get(txId) : undefined;
        const tx = w?.tx ?? late?.tx;
        if (tx === undefined) continue;
        const receipt: TxReceipt = { txId, kind: tx.kind, from: tx.message.from, block: b.index, blockId: b.id, index };
        const key = w?.key ?? late?.key;
        if (key !== undefined) records.push({ key, kind: tx.kind, from: tx.message.from, receipt });
        if (w !== undefined) {
          this.finish(w);
          settled.push([w, receipt]);
        } else if (late !== undefined) {
          this.late.delete(txId);
          lateRuns.push([late, receipt]);
        }
      }
    }
    try {
      this.store.recordIdempotency(records);
    } catch {
      // Node-local convenience; a retry then finds the nonce used instead of the receipt.
    }
    for (const [w, r] of settled) w.resolve(r);
    for (const [l, r] of lateRuns) for (const fn of l.callbacks) fn(r);
    this.forgetExpired();
    for (const w of [...this.waiting.values()]) {
      const why = this.refusalNow(w);
      if (why !== undefined && isFinalRefusal(why, w.tx)) {
        this.finish(w);
        w.reject(why);
      }
    }
  }
}

function unreachable(txId: Hex32, timeoutMs: number, cause?: unknown): BlyanError {
  return new BlyanError(
    'LEDGER_PRODUCER_UNREACHABLE',
    `no ledger producer included transaction ${txId} within ${Math.round(timeoutMs / 100) / 10} s; is the seed reachable? (this node follows chain C and forwards transactions to the node that produces it)`,
    { txId, timeoutMs },
    cause === undefined ? undefined : { cause },
  );
}

function conflict(key: string): BlyanError {
  return new BlyanError('LEDGER_IDEMPOTENCY_CONFLICT', `idempotency key "${key.slice(0, 80)}" was already used for another request`, { key });
}
