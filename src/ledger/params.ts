import { GENESIS_PRIVATE_KEY } from '../chain/genesis.ts';
import type { Preset } from '../chain/presets.ts';
import { addressOf } from '../chain/sign.ts';
import { ONE_BLY } from './amount.ts';
import { type Hex20, hexAddress } from './systemAccounts.ts';

/**
 * Economic parameters of a network's ledger (docs/ledger.md §6). They come from the preset today;
 * a chain-A `params` block is where a running network will change them.
 */
export interface LedgerParams {
  readonly chainId: number;
  /** Opening balances of the system accounts, issued at C:0. */
  readonly genesis: { readonly rewardPool: bigint; readonly validationPool: bigint; readonly treasury: bigint };
  /** Who may sign Grant and reward transactions (the validator set will replace this list). */
  readonly authorities: readonly Hex20[];
  /**
   * The ledger producer (docs/ledger.md §9.4): the only author a chain-C `txbatch` block may have while these
   * parameters are in force. null (the presets, and every v1 params block): any author, as chain C always was.
   */
  readonly producer: Hex20 | null;
  readonly pricing: {
    /** Price of 1,000 tokens in base units. */
    readonly perKiloToken: bigint;
    /** Share of every captured fee that is burned, in basis points (100 = 1%). */
    readonly burnBps: bigint;
    /** Longest time a quote may stay open, ms. */
    readonly maxQuoteTtlMs: number;
    readonly maxTokensPerQuery: bigint;
  };
  readonly freeTier: {
    /** Free requests per UTC day by trust level. */
    readonly dailyQuota: Readonly<Record<TrustLevel, number>>;
    readonly maxTokensPerRequest: bigint;
    /** Trust levels: active = ≥ this many transactions sent or any stake; contributor = any reward earned; trusted = either threshold. */
    readonly activeNonce: bigint;
    readonly trustedStake: bigint;
    readonly trustedRewards: bigint;
  };
  readonly rewards: {
    /** Paid per 1% relative loss improvement of an accepted delta (10,000 ppm). */
    readonly deltaPerPercent: bigint;
    readonly deltaCap: bigint;
    /** Usage reward = base × usage × speed × quality × recency, factors in ppm, each capped. */
    readonly usageBase: bigint;
    readonly usageUnit: bigint;
    readonly usageCapPpm: bigint;
    readonly speedCapPpm: bigint;
    readonly qualityCapPpm: bigint;
    readonly recencyCapPpm: bigint;
    /** Paid from the validation pool per epoch, split equally among that epoch's validators. */
    readonly validatorPerEpoch: bigint;
    readonly epochMs: number;
  };
}

export type TrustLevel = 'new' | 'active' | 'contributor' | 'trusted';
export const TRUST_LEVELS: readonly TrustLevel[] = ['new', 'active', 'contributor', 'trusted'];

export const DAY_MS = 86_400_000;

/** The genesis authority is public (docs/block-encoding.md §9): on tiny and devnet anyone can use the faucet. */
export const GENESIS_AUTHORITY: Hex20 = hexAddress(addressOf(GENESIS_PRIVATE_KEY));

export function ledgerParamsFor(preset: Preset): LedgerParams {
  return {
    chainId: preset.chainId,
    genesis: { rewardPool: 10_000_000n * ONE_BLY, validationPool: 1_000_000n * ONE_BLY, treasury: 10_000_000n * ONE_BLY },
    authorities: [GENESIS_AUTHORITY],
    producer: null,
    pricing: { perKiloToken: ONE_BLY, burnBps: 100n, maxQuoteTtlMs: 10 * 60_000, maxTokensPerQuery: 1_000_000n },
    freeTier: {
      dailyQuota: { new: 5, active: 20, contributor: 100, trusted: 500 },
      maxTokensPerRequest: 4_096n,
      activeNonce: 10n,
      trustedStake: 1_000n * ONE_BLY,
      trustedRewards: 100n * ONE_BLY,
    },
    rewards: {
      deltaPerPercent: 10n * ONE_BLY,
      deltaCap: 500n * ONE_BLY,
      usageBase: ONE_BLY / 100n,
      usageUnit: 1_000n,
      usageCapPpm: 10_000_000n,
      speedCapPpm: 2_000_000n,
      qualityCapPpm: 1_500_000n,
      recencyCapPpm: 1_000_000n,
      validatorPerEpoch: 1_000n * ONE_BLY,
      epochMs: preset.name === 'tiny' ? 3_600_000 : DAY_MS,
    },
  };
}
