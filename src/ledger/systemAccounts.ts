import { formatAddress } from '../chain/address.ts';

/**
 * System accounts are well-known addresses that no key controls (nobody can sign for 0x00…0001).
 * Every BLY movement is a posting between two accounts, user or system (docs/ledger.md §3).
 */
export type Hex20 = `0x${string}`;

function systemAddress(n: number): Hex20 {
  return `0x${n.toString(16).padStart(40, '0')}`;
}

export const SYSTEM = {
  /** Where all BLY comes from: its balance is minus the total supply, the only negative balance allowed. */
  issuance: systemAddress(0xb1),
  /** Pays miners for accepted deltas and expert hosts for usage. */
  rewardPool: systemAddress(0xb2),
  /** Pays validators per epoch. */
  validationPool: systemAddress(0xb3),
  /** Grants (the devnet faucet) and the network's own funds. */
  treasury: systemAddress(0xb4),
  /** Funds held for authorized queries; always equals the sum of open holds. */
  escrow: systemAddress(0xb5),
  /** Staked funds; always equals the sum of every account's stake. */
  stakeVault: systemAddress(0xb6),
  /** Burned fees: only ever credited. */
  burn: systemAddress(0xb7),
} as const satisfies Record<string, Hex20>;

export type SystemAccountName = keyof typeof SYSTEM;

const BY_ADDRESS = new Map<string, SystemAccountName>(Object.entries(SYSTEM).map(([k, v]) => [v, k as SystemAccountName]));

export function systemAccountName(addr: Hex20): SystemAccountName | undefined {
  return BY_ADDRESS.get(addr);
}

/** Accounts a user transaction may never name as a destination: their balances are bound to ledger state. */
export const RESERVED_DESTINATIONS: ReadonlySet<string> = new Set([SYSTEM.issuance, SYSTEM.escrow, SYSTEM.stakeVault]);

/** Lowercase 0x-hex, the ledger's internal key for an address. */
export function hexAddress(bytes: Uint8Array): Hex20 {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`;
}

/** An address for people: EIP-55, or the system account's name beside it. */
export function displayAddress(addr: Hex20): string {
  const name = systemAccountName(addr);
  const eip55 = formatAddress(new Uint8Array(Buffer.from(addr.slice(2), 'hex')));
  return name === undefined ? eip55 : `${eip55} (${name})`;
}
