import type { BlockHeader } from '../chain/types.ts';
import { BlyanError } from '../errors.ts';
import { applyBlock } from './apply.ts';
import type { LedgerParams } from './params.ts';
import type { LedgerDiff, LedgerReader } from './state.ts';
import { hexAddress } from './systemAccounts.ts';

/**
 * The rules a chain-C block made by someone else must keep before a node stores or applies it (docs/ledger.md
 * §9.4): its author is the ledger producer in force at its time, and every transaction applies to the state at
 * its parent. Pure: the state, the block and the parameters in force at its time in, the diff out; nothing is
 * written, so a caller can dry-run a block before storing it and apply the very same diff afterwards.
 */
export type LedgerBlockHeader = Pick<BlockHeader, 'chain' | 'index' | 'type' | 'time' | 'author'>;

/**
 * Rule C1: while the parameters in force at a `txbatch` block's time name a producer, only that address may
 * author the block. Without one (the presets, v1 params blocks) any author is valid, as chain C always was, so
 * existing chains stay valid. C:0 (`genesis`) is the network's, not a producer's.
 */
export function checkProducer(header: LedgerBlockHeader, p: LedgerParams): void {
  if (header.chain !== 'C' || header.type !== 'txbatch' || p.producer === null) return;
  const author = hexAddress(header.author);
  if (author === p.producer) return;
  throw new BlyanError(
    'LEDGER_NOT_PRODUCER',
    `C:${header.index} is authored by ${author}, but the ledger producer at ${new Date(header.time).toISOString()} is ${p.producer} (chain A params)`,
    { block: header.index, author, producer: p.producer },
  );
}

/**
 * Rule C1, then every transaction of the block in order (applyBlock: the producer's and the catch-up's own
 * rules, not a copy of them). A transaction that fails makes the block invalid: LEDGER_BLOCK_INVALID, naming
 * the transaction and the rule it broke (`data.rule` is that rule's code, `data.tx` its position).
 */
export function checkLedgerBlock(base: LedgerReader, header: LedgerBlockHeader, payload: Uint8Array, p: LedgerParams): LedgerDiff {
  checkProducer(header, p);
  try {
    return applyBlock(base, header, payload, p);
  } catch (err) {
    if (!(err instanceof BlyanError)) throw err;
    throw new BlyanError('LEDGER_BLOCK_INVALID', `chain-C block C:${header.index} breaks a ledger rule (${err.code}): ${err.message}`, { ...err.data, block: header.index, rule: err.code }, { cause: err });
  }
}
