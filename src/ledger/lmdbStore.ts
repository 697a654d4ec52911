import type { Database } from 'lmdb';
import type { BlockStore } from '../chain/store.ts';
import { BlyanError } from '../errors.ts';
import type { IdempotencyRecord, LedgerStore } from './ledgerStore.ts';
import type { LedgerParams } from './params.ts';
import type { Account, Hold, LedgerDiff, Posting } from './state.ts';
import { accountFromJson, accountToJson, holdFromJson, holdToJson, postingFromJson, postingToJson } from './stateCodec.ts';
import type { Hex20 } from './systemAccounts.ts';
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
 */
const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
const pad = (n: number, w: number): string => String(n).padStart(w, '0');
const EMPTY = Buffer.alloc(0);

export class LmdbLedgerStore implements LedgerStore {
  private readonly db: Database<Buffer, string>;

  constructor(
    readonly blocks: BlockStore,
    readonly params: LedgerParams,
  ) {
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
}
