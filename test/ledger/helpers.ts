import { sha256 } from '../../src/chain/hash.ts';
import { TINY } from '../../src/chain/presets.ts';
import { addressOf } from '../../src/chain/sign.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { GENESIS_PRIVATE_KEY } from '../../src/chain/genesis.ts';
import { ONE_BLY } from '../../src/ledger/amount.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import type { LedgerStore } from '../../src/ledger/ledgerStore.ts';
import { type LedgerParams, ledgerParamsFor } from '../../src/ledger/params.ts';
import { type Hex20, hexAddress } from '../../src/ledger/systemAccounts.ts';
import { type AnyTx, ledgerDomain, signTx } from '../../src/ledger/tx.ts';
import type { MessageOf, TxKind } from '../../src/ledger/txTypes.ts';
import { tempDir } from '../helpers/fixtures.ts';

export const PARAMS: LedgerParams = ledgerParamsFor(TINY);
export const DOMAIN = ledgerDomain(TINY.chainId);
/** Genesis start time plus one day, so block times never fall behind the genesis. */
export const T0 = TINY.genesisTime + 86_400_000;

export interface User {
  readonly key: Uint8Array;
  readonly addr: Hex20;
}

export function user(name: string): User {
  const key = sha256(new TextEncoder().encode(`blyan ledger test ${name}`));
  return { key, addr: hexAddress(addressOf(key)) };
}

export const AUTHORITY: User = { key: GENESIS_PRIVATE_KEY, addr: hexAddress(addressOf(GENESIS_PRIVATE_KEY)) };

export function sign<K extends TxKind>(u: User, kind: K, message: Omit<MessageOf<K>, 'from'>): AnyTx {
  return signTx(kind, { ...message, from: u.addr } as MessageOf<K>, DOMAIN, u.key) as unknown as AnyTx;
}

export const bly = (n: number | bigint): bigint => BigInt(n) * ONE_BLY;

/** A fresh tiny store with the ledger open; `clock` drives block times. */
export function freshLedger(opts: { maxBatch?: number; params?: LedgerParams } = {}) {
  const { dir, cleanup } = tempDir('blyan-ledger-');
  const { store } = BlockStore.init(dir, TINY);
  const clock = { now: T0 };
  const ledger = Ledger.open(store, { producerKey: user('producer').key, now: () => clock.now, ...opts });
  return {
    dir,
    store,
    ledger,
    clock,
    close: async () => {
      await store.close();
      cleanup();
    },
  };
}

/** A ledger under test, over either store (test/ledger/compliance.ts). */
export interface LedgerEnv {
  readonly ledger: Ledger<LedgerStore>;
  readonly clock: { now: number };
  close(): Promise<void>;
}

export interface EnvOptions {
  readonly maxBatch?: number;
  readonly params?: LedgerParams;
}

export type MakeEnv = (opts?: EnvOptions) => Promise<LedgerEnv>;

export const lmdbEnv: MakeEnv = async (opts = {}) => freshLedger(opts);

/** Grants `amount` from the treasury, signed by the (public) genesis authority. */
let authorityNonce = 0n;
export async function fund(ledger: Ledger<LedgerStore>, to: Hex20, amount: bigint): Promise<void> {
  const next = (await ledger.account(AUTHORITY.addr))?.nonce ?? 0n;
  authorityNonce = next > authorityNonce ? next : authorityNonce;
  await ledger.submit(sign(AUTHORITY, 'Grant', { to, amount, nonce: authorityNonce++ }));
}

/** An account's next nonce, through the asynchronous read path every store has. */
export async function nonceOf(ledger: Ledger<LedgerStore>, addr: Hex20): Promise<bigint> {
  return (await ledger.account(addr))?.nonce ?? 0n;
}
