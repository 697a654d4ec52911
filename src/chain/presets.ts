import { BlyanError } from '../errors.ts';
import type { ChainLetter } from './types.ts';

/**
 * Presets, Lodestar style: the same code under a small parameter set for tests and the default
 * devnet one. Every parameter that changes validity is baked into the genesis payload, so two
 * nodes with different parameters get different genesis ids and refuse each other.
 */
export interface Preset {
  readonly name: PresetName;
  readonly network: string;
  /** Signature domain: a block signed for one network does not verify on another. */
  readonly chainId: number;
  /** Minimum proof-of-work bits per chain (rule S6). */
  readonly minDifficulty: Readonly<Record<ChainLetter, number>>;
  readonly maxPayloadBytes: number;
  /** How far in the future a block's time may be when it is received (rule S8). */
  readonly maxFutureMs: number;
  readonly genesisTime: number;
  /** The pinned id of block A:0, hex. Checked by test/chain/genesis.test.ts. */
  readonly genesisId: string;
  /**
   * Proof-of-Learning: a miner whose delta makes this many deltas since the last full version of an expert
   * attaches a snapshot (docs/proof-of-learning.md, "Snapshots"). Not part of validity, so not in the genesis.
   */
  readonly snapshotEvery: number;
}

export type PresetName = 'tiny' | 'devnet';
export const PRESET_NAMES: readonly PresetName[] = ['tiny', 'devnet'];

export const TINY: Preset = {
  name: 'tiny',
  network: 'blyan-tiny',
  chainId: 770_000,
  minDifficulty: { A: 8, B: 8, C: 8, D: 8 },
  maxPayloadBytes: 64 * 1024 * 1024,
  maxFutureMs: 2 * 60_000,
  genesisTime: Date.UTC(2026, 0, 1),
  genesisId: '005298c367ca29de9c5ebd89c2dea898ab6ef678b97485465def7eb613cc83f9',
  snapshotEvery: 3,
};

export const DEVNET: Preset = {
  name: 'devnet',
  network: 'blyan-devnet',
  chainId: 770_001,
  minDifficulty: { A: 12, B: 12, C: 12, D: 12 },
  maxPayloadBytes: 2 * 1024 * 1024 * 1024 - 1,
  maxFutureMs: 2 * 60_000,
  genesisTime: Date.UTC(2026, 0, 1),
  genesisId: '00046076d5e34d7dd4ee196fa0c2b10f716ddeee9d2c345e776450760b620721',
  snapshotEvery: 16,
};

export function presetByName(name: string): Preset {
  if (name === 'tiny') return TINY;
  if (name === 'devnet') return DEVNET;
  throw new BlyanError('BAD_ARGUMENT', `unknown preset "${name}" (choose one of: ${PRESET_NAMES.join(', ')})`);
}
