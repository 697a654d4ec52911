import { isBlyanError } from '../errors.ts';
import { applyTx } from './apply.ts';
import { StateOverlay } from './overlay.ts';
import type { LedgerParams } from './params.ts';
import { KeySet } from './storeKeys.ts';
import type { LedgerSnapshot } from './storeSnapshot.ts';
import type { AnyTx } from './tx.ts';
import type { Hex32 } from './txTypes.ts';

/**
 * Would a transaction apply on top of committed state now? Rules T1–T6 and its kind's rules run over an overlay
 * of `snap`, at the time the next block would have (max(now, head time)); nothing is written. A follower checks
 * what it forwards this way, and a producer what gossip brings it (docs/ledger.md §9.4). Throws the rule's typed
 * error; returns the tx id.
 */
export function precheckTx(snap: LedgerSnapshot, tx: AnyTx, now: number, paramsAt: (t: number) => LedgerParams, txId?: Hex32): Hex32 {
  const time = Math.max(now, snap.head.time);
  const o = new StateOverlay(snap, snap.head.height + 1, time);
  return applyTx(o, tx, 0, paramsAt(time), txId);
}

/** The state keys precheckTx reads for `tx` (plus an idempotency key, if any). */
export function precheckKeys(tx: AnyTx, now: number, idempotencyKey?: string): KeySet {
  const keys = new KeySet(now).addTx(tx);
  if (idempotencyKey !== undefined) keys.idempotency.add(idempotencyKey);
  return keys;
}

/**
 * Rules a transaction breaks whatever the state: its sender (and anyone who forwarded it after checking it)
 * could have known. Gossip rejects these and penalises the peer; every other refusal depends on state that
 * may differ between nodes for a moment (a nonce, a balance, a hold, a quota), so gossip only ignores it.
 */
const STATELESS_RULES = new Set<string>([
  'LEDGER_MALFORMED_TX',
  'LEDGER_BAD_BATCH',
  'LEDGER_BAD_SIGNATURE',
  'LEDGER_WRONG_DOMAIN',
  'LEDGER_WRONG_CHAIN_ID',
  'LEDGER_BAD_AMOUNT',
  'LEDGER_RESERVED_ACCOUNT',
]);

/** 'reject' for a stateless rule (see above), else 'ignore'. A Refund's amount depends on what was credited (F1). */
export function gossipVerdictOf(err: unknown, tx: AnyTx): 'reject' | 'ignore' {
  if (!isBlyanError(err) || !STATELESS_RULES.has(err.code)) return 'ignore';
  if (err.code === 'LEDGER_BAD_AMOUNT' && tx.kind === 'Refund') return 'ignore';
  return 'reject';
}

/**
 * Refusals that stay refusals however chain C grows: nonces only go up (T4), a quote is authorized once (Q1), a
 * settled hold never becomes authorized again (C1, R1), a reward is paid once. A follower waiting for such a
 * transaction can stop waiting as soon as its view shows one.
 */
export function isFinalRefusal(err: unknown, tx: AnyTx): boolean {
  if (!isBlyanError(err)) return false;
  switch (err.code) {
    case 'LEDGER_NONCE_REPLAYED':
    case 'LEDGER_DUPLICATE_QUOTE':
    case 'LEDGER_ALREADY_PAID':
      return true;
    case 'LEDGER_HOLD_STATE':
      return tx.kind === 'Capture' || tx.kind === 'Release';
    default:
      return false;
  }
}
