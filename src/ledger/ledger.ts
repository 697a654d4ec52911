import { createBlock } from '../chain/block.ts';
import { toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import { BlyanError } from '../errors.ts';
import { applyBlock, applyTx } from './apply.ts';
import type { IdempotencyRecord, LedgerStore, TxReceipt } from './ledgerStore.ts';
import { LmdbLedgerStore } from './lmdbStore.ts';
import { StateOverlay } from './overlay.ts';
import { type LedgerParams, ledgerParamsFor } from './params.ts';
import type { LedgerDiff } from './state.ts';
import { type AnyTx, ledgerDomain, toHex0x, verifyTx } from './tx.ts';
import { encodeBatch, MAX_TXS_PER_BATCH } from './txCodec.ts';

/**
 * The ledger service: takes signed transactions, applies them to committed state one by one (a failing
 * one is refused alone), and commits the accepted ones as one chain-C `txbatch` block whose state is
 * written in the same LMDB transaction (group commit). Concurrent callers are serialised here, so a
 * balance is checked and charged in one step and can never be overdrawn.
 *
 * Idempotency (docs/ledger.md §7.4): a submission with a key that already succeeded returns the first
 * receipt and changes nothing; Authorize, Capture and Release are keyed by their quote id by default.
 */
export interface LedgerOptions {
  /** Signs the txbatch blocks this node produces (any key: block authorship carries no ledger rights). Read-only without it. */
  readonly producerKey?: Uint8Array;
  readonly params?: LedgerParams;
  readonly now?: () => number;
  readonly maxBatch?: number;
}

export interface SubmitOptions {
  /** Defaults to `<kind>/<quoteId>` for Authorize, Capture and Release; other kinds are not keyed by default. */
  readonly idempotencyKey?: string;
}

interface Pending {
  readonly tx: AnyTx;
  readonly key: string | undefined;
  readonly resolve: (r: TxReceipt) => void;
  readonly reject: (err: unknown) => void;
}

export function defaultIdempotencyKey(tx: AnyTx): string | undefined {
  if (tx.kind === 'Authorize' || tx.kind === 'Capture' || tx.kind === 'Release') return `${tx.kind}/${tx.message.quoteId}`;
  return undefined;
}

export class Ledger {
  readonly store: LedgerStore;
  readonly params: LedgerParams;
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Map<string, { kind: string; from: string; promise: Promise<TxReceipt> }>();
  private scheduled = false;
  private readonly now: () => number;
  private readonly maxBatch: number;

  private constructor(
    readonly blocks: BlockStore,
    private readonly opts: LedgerOptions,
  ) {
    this.params = opts.params ?? ledgerParamsFor(blocks.preset);
    this.store = new LmdbLedgerStore(blocks, this.params);
    this.now = opts.now ?? Date.now;
    this.maxBatch = Math.min(opts.maxBatch ?? 5_000, MAX_TXS_PER_BATCH);
  }

  /** Opens the ledger over a block store and brings its state up to the chain-C head. */
  static open(blocks: BlockStore, opts: LedgerOptions = {}): Ledger {
    const l = new Ledger(blocks, opts);
    catchUp(blocks, l.store);
    return l;
  }

  submit(tx: AnyTx, opts: SubmitOptions = {}): Promise<TxReceipt> {
    const key = opts.idempotencyKey ?? defaultIdempotencyKey(tx);
    if (key !== undefined) {
      const done = this.store.idempotency(key);
      if (done !== undefined) {
        if (done.kind !== tx.kind || done.from !== tx.message.from) return Promise.reject(conflict(key));
        return Promise.resolve(done.receipt);
      }
      const running = this.inFlight.get(key);
      if (running !== undefined) {
        if (running.kind !== tx.kind || running.from !== tx.message.from) return Promise.reject(conflict(key));
        return running.promise;
      }
    }
    const promise = new Promise<TxReceipt>((resolve, reject) => {
      this.queue.push({ tx, key, resolve, reject });
    });
    if (key !== undefined) {
      this.inFlight.set(key, { kind: tx.kind, from: tx.message.from, promise });
      const forget = () => this.inFlight.delete(key);
      promise.then(forget, forget);
    }
    this.schedule();
    return promise;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
      if (this.queue.length > 0) this.schedule();
    });
  }

  /** Applies up to maxBatch queued transactions and commits the accepted ones as one block. */
  flush(): void {
    const batch = this.queue.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    const producerKey = this.opts.producerKey;
    if (producerKey === undefined) {
      for (const p of batch) p.reject(new BlyanError('BAD_ARGUMENT', 'this ledger was opened read-only (no producer key)'));
      return;
    }
    const head = this.blocks.headOf('C');
    if (head === undefined) {
      for (const p of batch) p.reject(new BlyanError('STORE_NOT_INITIALISED', 'chain C has no genesis'));
      return;
    }
    const time = Math.max(this.now(), head.header.time);
    const index = head.header.index + 1;
    const overlay = new StateOverlay(this.store, index, time);
    const domain = ledgerDomain(this.params.chainId);
    const accepted: { p: Pending; txId: `0x${string}` }[] = [];
    for (const p of batch) {
      try {
        const id = toHex0x(verifyTx(p.tx, domain));
        applyTx(overlay, p.tx, accepted.length, this.params, id);
        accepted.push({ p, txId: id });
      } catch (err) {
        p.reject(err);
      }
    }
    if (accepted.length === 0) return;
    const txs = accepted.map((a) => a.p.tx);
    const payload = encodeBatch(txs);
    let diff: LedgerDiff = overlay.diff();
    const block = createBlock({ chain: 'C', index, prev: head.id, deps: [], type: 'txbatch', time }, payload, producerKey, this.blocks.preset);
    const blockId = toHex(block.id);
    const receipts = accepted.map(({ p, txId }, i): TxReceipt => ({ txId, kind: p.tx.kind, from: p.tx.message.from, block: index, blockId, index: i }));
    const idem: IdempotencyRecord[] = [];
    for (const [i, { p }] of accepted.entries()) {
      if (p.key !== undefined) idem.push({ key: p.key, kind: p.tx.kind, from: p.tx.message.from, receipt: receipts[i] as TxReceipt });
    }
    try {
      this.blocks.appendBatch([{ block, payload }], {
        alsoWrite: () => {
          // The ledger may have fallen behind if blocks arrived by another path; replay those first.
          if (this.store.height() !== index - 1) {
            catchUpInTxn(this.blocks, this.store, index - 1);
            diff = applyBlock(this.store, block.header, payload, this.params, txs);
          }
          this.store.write(diff, idem);
        },
      });
    } catch (err) {
      for (const { p } of accepted) p.reject(err);
      return;
    }
    for (const [i, { p }] of accepted.entries()) p.resolve(receipts[i] as TxReceipt);
  }
}

function conflict(key: string): BlyanError {
  return new BlyanError('LEDGER_IDEMPOTENCY_CONFLICT', `idempotency key "${key.slice(0, 80)}" was already used for another request`, { key });
}

/** Applies every chain-C block above the ledger's height, block by block, each in its own transaction. */
export function catchUp(blocks: BlockStore, store: LedgerStore): number {
  const head = blocks.headOf('C');
  if (head === undefined) return 0;
  let applied = 0;
  while (store.height() < head.header.index) {
    store.transaction(() => catchUpInTxn(blocks, store, store.height() + 1));
    applied++;
  }
  return applied;
}

/** Inside an open transaction: applies chain-C blocks from the ledger's height + 1 up to `upTo`. */
function catchUpInTxn(blocks: BlockStore, store: LedgerStore, upTo: number): void {
  for (let i = store.height() + 1; i <= upTo; i++) {
    const id = blocks.idAt('C', i);
    const block = id === undefined ? undefined : blocks.getBlock(id);
    if (block === undefined) throw new BlyanError('STORE_CORRUPT', `chain C has no block at ${i}`);
    const payload = block.header.payloadSize === 0 ? new Uint8Array(0) : blocks.getPayload(block.header.payloadHash);
    if (payload === undefined) throw new BlyanError('STORE_CORRUPT', `payload of C:${i} is missing`);
    store.write(applyBlock(store, block.header, payload, store.params));
  }
}
