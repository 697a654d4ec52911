import { BlyanError } from '../errors.ts';
import type { StateOverlay } from './overlay.ts';
import type { LedgerParams } from './params.ts';
import { type Hex20, SYSTEM, systemAccountName } from './systemAccounts.ts';
import { assertAuthority } from './transfers.ts';
import type { Hex32, MessageOf } from './txTypes.ts';

/**
 * Rewards (docs/ledger.md §8). Every payout is a posting from a pool; a pool never goes negative
 * (LEDGER_POOL_EXHAUSTED, nothing paid); every reward has a key and is paid once (LEDGER_ALREADY_PAID).
 */
const PPM = 1_000_000n;

/**
 * What the ledger needs from a reward record of the learning loop (an accepted delta). The learning
 * module's records (src/learning/rewardRecords.ts) map onto this shape.
 */
export interface DeltaRewardRecord {
  readonly miner: Hex20;
  /** Model block (chain A) and component the delta improved. */
  readonly model: Hex32;
  readonly component: string;
  /** Relative validation-loss improvement in parts per million (1% = 10,000). */
  readonly improvementPpm: bigint;
  /** The accepted delta block (chain B): the reward's key. */
  readonly deltaBlock: Hex32;
}

/** min(deltaPerPercent × improvement% , deltaCap). */
export function deltaRewardAmount(improvementPpm: bigint, p: LedgerParams): bigint {
  const raw = (p.rewards.deltaPerPercent * improvementPpm) / 10_000n;
  return raw < p.rewards.deltaCap ? raw : p.rewards.deltaCap;
}

export interface UsageFactors {
  readonly usage: bigint;
  readonly speedPpm: bigint;
  readonly qualityPpm: bigint;
  readonly recencyPpm: bigint;
}

const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/**
 * base × usage × speed × quality × recency, each factor capped:
 *   usage   = min(usage / usageUnit, usageCap)        (ppm)
 *   speed   = min(speedPpm, speedCap), quality = min(qualityPpm, qualityCap), recency = min(recencyPpm, recencyCap)
 *   amount  = ⌊base × usage × speed × quality × recency / 10^24⌋
 */
export function usageRewardAmount(f: UsageFactors, p: LedgerParams): bigint {
  const r = p.rewards;
  const usage = min((f.usage * PPM) / r.usageUnit, r.usageCapPpm);
  const speed = min(f.speedPpm, r.speedCapPpm);
  const quality = min(f.qualityPpm, r.qualityCapPpm);
  const recency = min(f.recencyPpm, r.recencyCapPpm);
  return (r.usageBase * usage * speed * quality * recency) / PPM ** 4n;
}

export function epochOf(timeMs: number, p: LedgerParams): bigint {
  return BigInt(Math.floor(timeMs / p.rewards.epochMs));
}

function assertPayee(addr: Hex20): void {
  if (systemAccountName(addr) !== undefined) throw new BlyanError('LEDGER_RESERVED_ACCOUNT', `a reward cannot be paid to the system account ${addr}`, { account: addr });
}

function assertUnpaid(o: StateOverlay, key: string): void {
  if (o.rewardPaid(key)) throw new BlyanError('LEDGER_ALREADY_PAID', `reward ${key} was already paid`, { key });
}

function assertPool(o: StateOverlay, pool: Hex20, amount: bigint): void {
  const balance = o.getAccount(pool).balance;
  if (balance < amount) {
    throw new BlyanError('LEDGER_POOL_EXHAUSTED', `the ${systemAccountName(pool)} holds ${balance} units; ${amount} needed`, {
      pool: systemAccountName(pool),
      balance: balance.toString(),
      needed: amount.toString(),
    });
  }
}

function assertPastEpoch(o: StateOverlay, epoch: bigint, p: LedgerParams): void {
  if (epoch >= epochOf(o.time, p)) throw new BlyanError('LEDGER_MALFORMED_TX', `epoch ${epoch} is not over yet`, { epoch: epoch.toString() });
}

function credit(o: StateOverlay, kind: 'delta-reward' | 'usage-reward' | 'validator-reward', pool: Hex20, to: Hex20, amount: bigint): void {
  o.post(kind, pool, to, amount);
  const acc = o.getAccount(to);
  o.setAccount(to, { ...acc, rewards: acc.rewards + amount });
}

export function applyDeltaReward(o: StateOverlay, m: MessageOf<'DeltaReward'>, p: LedgerParams): void {
  assertAuthority(m.from, p);
  assertPayee(m.miner);
  const key = deltaRewardKey(m);
  assertUnpaid(o, key);
  const amount = deltaRewardAmount(m.improvementPpm, p);
  if (amount === 0n) throw new BlyanError('LEDGER_BAD_AMOUNT', 'an improvement this small earns nothing', { reason: 'zero' });
  assertPool(o, SYSTEM.rewardPool, amount);
  credit(o, 'delta-reward', SYSTEM.rewardPool, m.miner, amount);
  o.markPaid(key);
}

export function applyUsageReward(o: StateOverlay, m: MessageOf<'UsageReward'>, p: LedgerParams): void {
  assertAuthority(m.from, p);
  assertPayee(m.host);
  assertPastEpoch(o, m.epoch, p);
  const key = usageRewardKey(m);
  assertUnpaid(o, key);
  const amount = usageRewardAmount(m, p);
  if (amount === 0n) throw new BlyanError('LEDGER_BAD_AMOUNT', 'this usage earns nothing', { reason: 'zero' });
  assertPool(o, SYSTEM.rewardPool, amount);
  credit(o, 'usage-reward', SYSTEM.rewardPool, m.host, amount);
  o.markPaid(key);
}

export function applyValidatorReward(o: StateOverlay, m: MessageOf<'ValidatorReward'>, p: LedgerParams): void {
  assertAuthority(m.from, p);
  assertPastEpoch(o, m.epoch, p);
  const key = validatorRewardKey(m);
  assertUnpaid(o, key);
  if (m.validators.length === 0 || new Set(m.validators).size !== m.validators.length) {
    throw new BlyanError('LEDGER_MALFORMED_TX', 'validators must be a non-empty list without repeats');
  }
  for (const v of m.validators) assertPayee(v);
  // An equal split; the remainder of the division stays in the pool.
  const share = p.rewards.validatorPerEpoch / BigInt(m.validators.length);
  assertPool(o, SYSTEM.validationPool, share * BigInt(m.validators.length));
  for (const v of m.validators) credit(o, 'validator-reward', SYSTEM.validationPool, v, share);
  o.markPaid(key);
}

/**
 * The shape of the learning loop's reward records (src/learning/rewardRecords.ts, `RewardRecord`), declared
 * here structurally so the ledger does not depend on the learning module: hex without 0x, and the
 * improvement as an absolute loss drop (base − new).
 */
export interface LearningRewardRecord {
  readonly miner: string;
  readonly model: string;
  readonly component: string;
  readonly block: string;
  readonly improvement: number;
  readonly baseLoss: number;
}

const hex0x = (h: string): `0x${string}` => (h.startsWith('0x') ? h : `0x${h}`).toLowerCase() as `0x${string}`;

/**
 * A learning record as the ledger pays it: improvement relative to the base loss, in ppm, rounded down
 * (computed off-chain by the paying authority; the chain only sees and re-prices the integer).
 */
export function fromLearningRecord(r: LearningRewardRecord): DeltaRewardRecord {
  const rel = r.baseLoss > 0 && Number.isFinite(r.improvement) && r.improvement > 0 ? r.improvement / r.baseLoss : 0;
  return {
    miner: hex0x(r.miner),
    model: hex0x(r.model),
    component: r.component,
    improvementPpm: BigInt(Math.min(1_000_000, Math.floor(rel * 1_000_000))),
    deltaBlock: hex0x(r.block),
  };
}

export function deltaRewardKey(r: Pick<DeltaRewardRecord, 'deltaBlock'>): string {
  return `delta/${r.deltaBlock}`;
}

export function usageRewardKey(m: Pick<MessageOf<'UsageReward'>, 'host' | 'expert' | 'epoch'>): string {
  return `usage/${m.host}/${m.expert}/${m.epoch}`;
}

export function validatorRewardKey(m: Pick<MessageOf<'ValidatorReward'>, 'epoch'>): string {
  return `validators/${m.epoch}`;
}

/** The DeltaReward message an authority signs to pay a reward record. */
export function deltaRewardMessage(r: DeltaRewardRecord, from: Hex20, nonce: bigint): MessageOf<'DeltaReward'> {
  return { from, miner: r.miner, deltaBlock: r.deltaBlock, model: r.model, component: r.component, improvementPpm: r.improvementPpm, nonce };
}
