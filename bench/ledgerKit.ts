// Shared pieces of the ledger benches (ledger.bench.ts: LMDB and PostgreSQL side by side).
import { GENESIS_PRIVATE_KEY } from '../src/chain/genesis.ts';
import { sha256 } from '../src/chain/hash.ts';
import { TINY } from '../src/chain/presets.ts';
import { addressOf } from '../src/chain/sign.ts';
import { ONE_BLY } from '../src/ledger/amount.ts';
import type { Ledger } from '../src/ledger/ledger.ts';
import type { LedgerStore } from '../src/ledger/ledgerStore.ts';
import { ledgerParamsFor } from '../src/ledger/params.ts';
import { authorizeMessage, makeQuote } from '../src/ledger/pricing.ts';
import { type Hex20, hexAddress } from '../src/ledger/systemAccounts.ts';
import { type AnyTx, ledgerDomain, signTx } from '../src/ledger/tx.ts';

export const PARAMS = ledgerParamsFor(TINY);
export const DOMAIN = ledgerDomain(TINY.chainId);
export const T0 = TINY.genesisTime + 86_400_000;
export const AUTH = hexAddress(addressOf(GENESIS_PRIVATE_KEY));

export interface Key {
  key: Uint8Array;
  addr: Hex20;
}

export function keys(n: number, tag: string): Key[] {
  return Array.from({ length: n }, (_, i) => {
    const key = sha256(new TextEncoder().encode(`bench ledger ${tag} ${i}`));
    return { key, addr: hexAddress(addressOf(key)) };
  });
}

/** A ledger under measurement, its clock, and the authority's next nonce. */
export interface Bench {
  readonly ledger: Ledger<LedgerStore>;
  readonly clock: { now: number };
  authNonce: bigint;
}

export function grant(b: { authNonce: bigint }, to: Hex20, amount: bigint): AnyTx {
  return signTx('Grant', { from: AUTH, to, amount, nonce: b.authNonce++ }, DOMAIN, GENESIS_PRIVATE_KEY);
}

/**
 * quote → authorize → capture round trips per second: sequential (each step its own committed block) for
 * `seqMs`, then `concurrent` pairs at once (authorizations in one wave, captures in the next). Returns the
 * payer's next nonce.
 */
export async function roundTrips(b: Bench, user: Key, provider: Key, seqMs: number, concurrent: number): Promise<{ sequential: number; concurrent: number; userNonce: bigint }> {
  await b.ledger.submit(grant(b, user.addr, 100_000n * ONE_BLY));
  let userNonce = 0n;
  let provNonce = 0n;
  const roundTrip = () => {
    const q = makeQuote({ provider: provider.addr, maxTokens: 1000n, now: b.clock.now }, PARAMS);
    const a = signTx('Authorize', authorizeMessage(q, user.addr, userNonce++), DOMAIN, user.key);
    const c = signTx('Capture', { from: provider.addr, quoteId: q.quoteId, tokensUsed: 700n, nonce: provNonce++ }, DOMAIN, provider.key);
    return { a, c };
  };
  let seq = 0;
  const tSeq = performance.now();
  while (performance.now() - tSeq < seqMs) {
    const { a, c } = roundTrip();
    await b.ledger.submit(a);
    await b.ledger.submit(c);
    seq++;
  }
  const sequential = seq / ((performance.now() - tSeq) / 1000);
  const pairs = Array.from({ length: concurrent }, roundTrip);
  const tCon = performance.now();
  await Promise.all(pairs.map((p) => b.ledger.submit(p.a)));
  await Promise.all(pairs.map((p) => b.ledger.submit(p.c)));
  return { sequential: Math.round(sequential), concurrent: Math.round(concurrent / ((performance.now() - tCon) / 1000)), userNonce };
}

/**
 * Commits `count` signed transfers (from `senders`, nonces from `firstNonce`) in waves of `wave` submitted at
 * once: signature check, apply and the store's commit, as a node under load does them.
 */
export async function bulkTransfers(b: Bench, senders: Key[], to: Hex20, count: number, firstNonce: bigint, wave: number): Promise<{ txPerSec: number; signTxPerSec: number }> {
  await Promise.all(senders.map((s) => b.ledger.submit(grant(b, s.addr, ONE_BLY))));
  const tSign = performance.now();
  const bulk: AnyTx[] = [];
  for (let n = 0; bulk.length < count; n++) {
    for (const s of senders) {
      if (bulk.length >= count) break;
      bulk.push(signTx('Transfer', { from: s.addr, to, amount: 1000n, nonce: firstNonce + BigInt(n) }, DOMAIN, s.key));
    }
  }
  const signSec = (performance.now() - tSign) / 1000;
  const t0 = performance.now();
  for (let i = 0; i < bulk.length; i += wave) {
    b.clock.now += 1;
    await Promise.all(bulk.slice(i, i + wave).map((tx) => b.ledger.submit(tx)));
  }
  return { txPerSec: Math.round(bulk.length / ((performance.now() - t0) / 1000)), signTxPerSec: Math.round(bulk.length / signSec) };
}
