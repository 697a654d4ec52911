import { BlyanError } from '../errors.ts';
import { assertPositiveAmount } from './amount.ts';
import type { StateOverlay } from './overlay.ts';
import type { LedgerParams } from './params.ts';
import { type Hex20, RESERVED_DESTINATIONS, SYSTEM } from './systemAccounts.ts';
import type { MessageOf } from './txTypes.ts';

/** Transfer, Stake, Unstake and Grant (docs/ledger.md §4, rules K1–K4). */

export function assertDestination(to: Hex20): void {
  if (RESERVED_DESTINATIONS.has(to)) {
    throw new BlyanError('LEDGER_RESERVED_ACCOUNT', `${to} is a system account that only ledger rules may credit`, { account: to });
  }
}

export function assertAuthority(from: Hex20, p: LedgerParams): void {
  if (!p.authorities.includes(from)) {
    throw new BlyanError('LEDGER_NOT_AUTHORIZED', `${from} is not a ledger authority`, { account: from });
  }
}

export function applyTransfer(o: StateOverlay, m: MessageOf<'Transfer'>): void {
  assertPositiveAmount(m.amount);
  assertDestination(m.to);
  o.post('transfer', m.from, m.to, m.amount);
}

export function applyStake(o: StateOverlay, m: MessageOf<'Stake'>): void {
  assertPositiveAmount(m.amount);
  o.post('stake', m.from, SYSTEM.stakeVault, m.amount);
  const acc = o.getAccount(m.from);
  o.setAccount(m.from, { ...acc, stake: acc.stake + m.amount });
}

export function applyUnstake(o: StateOverlay, m: MessageOf<'Unstake'>): void {
  assertPositiveAmount(m.amount);
  const acc = o.getAccount(m.from);
  if (acc.stake < m.amount) {
    throw new BlyanError('LEDGER_INSUFFICIENT_FUNDS', `${m.from} has ${acc.stake} units staked; cannot unstake ${m.amount}`, {
      account: m.from,
      balance: acc.stake.toString(),
      needed: m.amount.toString(),
    });
  }
  o.setAccount(m.from, { ...acc, stake: acc.stake - m.amount });
  o.post('unstake', SYSTEM.stakeVault, m.from, m.amount);
}

export function applyGrant(o: StateOverlay, m: MessageOf<'Grant'>, p: LedgerParams): void {
  assertAuthority(m.from, p);
  assertPositiveAmount(m.amount);
  assertDestination(m.to);
  o.post('grant', SYSTEM.treasury, m.to, m.amount);
}
