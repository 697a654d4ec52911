import type { BlockHeader } from '../chain/types.ts';
import { BlyanError } from '../errors.ts';
import { StateOverlay } from './overlay.ts';
import type { LedgerParams } from './params.ts';
import { applyAuthorize, applyCapture, applyRefund, applyRelease } from './payments.ts';
import { applyDeltaReward, applyUsageReward, applyValidatorReward } from './rewards.ts';
import type { LedgerDiff, LedgerReader } from './state.ts';
import { SYSTEM } from './systemAccounts.ts';
import { applyGrant, applyStake, applyTransfer, applyUnstake } from './transfers.ts';
import { type AnyTx, ledgerDomain, toHex0x, verifyTx } from './tx.ts';
import { decodeBatch } from './txCodec.ts';
import type { Hex32 } from './txTypes.ts';

/**
 * Consensus: applying a chain-C block is a pure function of (committed state, block, payload, params)
 * → the block's diff. Nothing here does I/O or reads a clock; the block's `time` is the ledger clock.
 * A block with any invalid transaction is invalid as a whole, and the state is left as it was.
 */

/** Kinds whose signer needs an existing account (they move the signer's own funds), rule T5. */
const NEEDS_ACCOUNT = new Set(['Transfer', 'Stake', 'Unstake', 'Refund']);

/**
 * One transaction against the overlay (rules T1–T6, then the kind's rules). Throws a typed error and
 * changes nothing when it fails. `verifiedId` skips the signature check for a tx the caller just verified.
 */
export function applyTx(o: StateOverlay, tx: AnyTx, index: number, p: LedgerParams, verifiedId?: Hex32): Hex32 {
  // T1–T3 — domain, chain id, signature by `from`.
  const id = verifiedId ?? toHex0x(verifyTx(tx, ledgerDomain(p.chainId)));
  o.begin(index, id);
  try {
    const m = tx.message;
    const acc = o.account(m.from);
    // T4 — nonces only go up: a nonce below the account's next nonce is a replay.
    if (acc !== undefined && m.nonce < acc.nonce) {
      throw new BlyanError('LEDGER_NONCE_REPLAYED', `nonce ${m.nonce} of ${m.from} was already used (next: ${acc.nonce})`, {
        account: m.from,
        nonce: m.nonce.toString(),
        next: acc.nonce.toString(),
      });
    }
    // T5 — moving one's own funds needs an account that exists (a paid Authorize is checked by its balance).
    const paidAuthorize = tx.kind === 'Authorize' && tx.message.amount > 0n;
    if (acc === undefined && (NEEDS_ACCOUNT.has(tx.kind) || paidAuthorize)) {
      throw new BlyanError('LEDGER_UNKNOWN_ACCOUNT', `${m.from} has no account on this ledger`, { account: m.from });
    }
    // T6 — the signer's nonce moves past this one.
    const cur = o.getAccount(m.from);
    o.setAccount(m.from, { ...cur, nonce: m.nonce + 1n });
    switch (tx.kind) {
      case 'Transfer':
        applyTransfer(o, tx.message);
        break;
      case 'Stake':
        applyStake(o, tx.message);
        break;
      case 'Unstake':
        applyUnstake(o, tx.message);
        break;
      case 'Grant':
        applyGrant(o, tx.message, p);
        break;
      case 'Authorize':
        applyAuthorize(o, tx.message, id, p);
        break;
      case 'Capture':
        applyCapture(o, tx.message, id, p);
        break;
      case 'Release':
        applyRelease(o, tx.message, id);
        break;
      case 'Refund':
        applyRefund(o, tx.message);
        break;
      case 'DeltaReward':
        applyDeltaReward(o, tx.message, p);
        break;
      case 'UsageReward':
        applyUsageReward(o, tx.message, p);
        break;
      case 'ValidatorReward':
        applyValidatorReward(o, tx.message, p);
        break;
    }
    o.commit();
    return id;
  } catch (err) {
    o.rollback();
    throw err;
  }
}

/** C:0 issues the opening balances of the pools from the issuance account. */
export function applyGenesis(base: LedgerReader, time: number, p: LedgerParams): LedgerDiff {
  const o = new StateOverlay(base, 0, time);
  o.begin(-1, null);
  o.post('genesis', SYSTEM.issuance, SYSTEM.rewardPool, p.genesis.rewardPool);
  o.post('genesis', SYSTEM.issuance, SYSTEM.validationPool, p.genesis.validationPool);
  o.post('genesis', SYSTEM.issuance, SYSTEM.treasury, p.genesis.treasury);
  o.commit();
  return o.diff();
}

export type LedgerBlock = Pick<BlockHeader, 'chain' | 'index' | 'type' | 'time'>;

/** (state, block) → diff. `txs` may be passed when the caller has already decoded the payload. */
export function applyBlock(base: LedgerReader, header: LedgerBlock, payload: Uint8Array, p: LedgerParams, txs?: readonly AnyTx[]): LedgerDiff {
  if (header.chain !== 'C') throw new BlyanError('LEDGER_BAD_BATCH', `chain ${header.chain} blocks are not ledger blocks`);
  if (header.type === 'genesis') return applyGenesis(base, header.time, p);
  const list = txs ?? decodeBatch(payload);
  const o = new StateOverlay(base, header.index, header.time);
  for (const [i, tx] of list.entries()) {
    try {
      applyTx(o, tx, i, p);
    } catch (err) {
      if (err instanceof BlyanError) {
        throw new BlyanError(err.code, `transaction ${i} of block C:${header.index}: ${err.message}`, { ...err.data, tx: i, block: header.index }, { cause: err });
      }
      throw err;
    }
  }
  return o.diff();
}
