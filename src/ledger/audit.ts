import { verifyStandalone } from '../chain/block.ts';
import { genesisOf } from '../chain/genesis.ts';
import { equalBytes, toHex } from '../chain/hash.ts';
import type { Preset } from '../chain/presets.ts';
import type { BlockStore } from '../chain/store.ts';
import type { Block } from '../chain/types.ts';
import { BlyanError } from '../errors.ts';
import { applyBlock } from './apply.ts';
import { checkProducer } from './blockRules.ts';
import type { LedgerStore, LedgerView } from './ledgerStore.ts';
import { fixedSchedule, type ParamsSchedule, paramsScheduleOf } from './paramsSchedule.ts';
import { MemoryLedgerState } from './memoryState.ts';
import { holdToJson } from './stateCodec.ts';
import type { Account } from './state.ts';
import { type Hex20, SYSTEM } from './systemAccounts.ts';

/**
 * `blyan ledger audit` (docs/ledger.md §9): recomputes the whole ledger from C:0, re-verifying every
 * signature and rule, over one consistent view of the store (LMDB or PostgreSQL), and proves that
 *   A0 chain C is one linear chain from this network's C:0: each block extends the one before it, and its
 *      PoW, signature and payload hash hold (with PostgreSQL the blocks come from the shared store, which no
 *      block store verified on the way in);
 *   A1 every posting is positive and the sum of debits equals the sum of credits;
 *   A2 balances sum to zero (the issuance account holds minus the supply); no other balance is negative;
 *   A3 escrow holds exactly the open authorizations and the stake vault exactly the stakes;
 *   A4 the stored state (accounts, holds, quotas, paid rewards, height) equals the replayed state;
 *   A5 the stored journal replays to the stored balances.
 */
export interface AuditReport {
  readonly ok: true;
  readonly height: number;
  readonly blocks: number;
  readonly transactions: number;
  readonly postings: number;
  readonly accounts: number;
  readonly debits: string;
  readonly credits: string;
  readonly supply: string;
  readonly burned: string;
  readonly ms: number;
}

function fail(rule: string, why: string): never {
  throw new BlyanError('LEDGER_AUDIT_FAILED', `${rule}: ${why}`, { rule });
}

const accountEq = (a: Account, b: Account): boolean =>
  a.balance === b.balance && a.nonce === b.nonce && a.stake === b.stake && a.rewards === b.rewards;

/** `schedule`: the parameters in force over time (from chain A); without one, the store's parameters throughout. */
export async function auditStore(store: LedgerStore, schedule: ParamsSchedule = fixedSchedule(store.params)): Promise<AuditReport> {
  return store.withView((view) => auditView(view, store.preset, schedule));
}

/**
 * The audit of a node's ledger. With PostgreSQL the local block store keeps a mirror of chain C (importChain):
 * it must be a prefix of the audited chain.
 */
export async function auditLedger(blocks: BlockStore, store: LedgerStore): Promise<AuditReport> {
  const report = await auditStore(store, paramsScheduleOf(blocks, store.params));
  const local = blocks.headOf('C');
  if (local !== undefined && store.kind !== 'lmdb') {
    const [same] = await store.chainFrom(local.header.index, 1);
    if (same === undefined || !equalBytes(same.block.id, local.id)) fail('A0', `the local chain C (head C:${local.header.index}) is not a prefix of the ledger store's chain C`);
  }
  return report;
}

function checkLink(block: Block, payload: Uint8Array, n: number, prev: Block | undefined, preset: Preset): void {
  const h = block.header;
  if (h.chain !== 'C' || h.index !== n) fail('A0', `block ${n} of chain C is ${h.chain}:${h.index}`);
  if (n === 0) {
    if (!equalBytes(block.id, genesisOf(preset).c.block.id)) fail('A0', `C:0 ${toHex(block.id)} is not the ${preset.network} ledger genesis`);
  } else if (prev === undefined || h.prev === null || !equalBytes(h.prev, prev.id) || h.time < prev.header.time) {
    fail('A0', `C:${n} does not extend C:${n - 1}`);
  }
  try {
    verifyStandalone(block, preset, { payload });
  } catch (err) {
    fail('A0', `C:${n}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export async function auditView(view: LedgerView, preset: Preset, schedule: ParamsSchedule): Promise<AuditReport> {
  const t0 = performance.now();
  const replay = new MemoryLedgerState();
  let debits = 0n;
  let credits = 0n;
  let postings = 0;
  let transactions = 0;
  let n = 0;
  let prev: Block | undefined;
  for await (const { block, payload } of view.chain()) {
    checkLink(block, payload, n, prev, preset);
    const params = schedule.at(block.header.time);
    // C1: while chain A names a ledger producer, every txbatch block is its (docs/ledger.md §9.4).
    checkProducer(block.header, params);
    const diff = applyBlock(replay, block.header, payload, params);
    for (const p of diff.postings) {
      if (p.amount <= 0n) fail('A1', `posting ${p.block}/${p.seq} has a non-positive amount`);
      debits += p.amount;
      credits += p.amount;
    }
    postings += diff.postings.length;
    transactions += diff.txIds.length;
    replay.merge(diff, false);
    prev = block;
    n++;
  }
  if (debits !== credits) fail('A1', `debits ${debits} ≠ credits ${credits}`);

  // A2
  let sum = 0n;
  for (const [addr, acc] of replay.accounts) {
    sum += acc.balance;
    if (acc.balance < 0n && addr !== SYSTEM.issuance) fail('A2', `${addr} has a negative balance ${acc.balance}`);
  }
  if (sum !== 0n) fail('A2', `balances sum to ${sum}, not 0`);
  // A3
  let open = 0n;
  for (const h of replay.holds.values()) if (h.state === 'authorized') open += h.amount;
  const bal = (a: Hex20) => replay.accounts.get(a)?.balance ?? 0n;
  if (bal(SYSTEM.escrow) !== open) fail('A3', `escrow holds ${bal(SYSTEM.escrow)} but open authorizations total ${open}`);
  let staked = 0n;
  for (const acc of replay.accounts.values()) staked += acc.stake;
  if (bal(SYSTEM.stakeVault) !== staked) fail('A3', `stake vault holds ${bal(SYSTEM.stakeVault)} but stakes total ${staked}`);

  // A4
  if (view.height !== replay.height) fail('A4', `stored ledger is at C:${view.height}, the chain at C:${replay.height}`);
  let stored = 0;
  for await (const [addr, acc] of view.accounts()) {
    stored++;
    const r = replay.accounts.get(addr);
    if (r === undefined || !accountEq(r, acc)) fail('A4', `stored account ${addr} differs from the replay`);
  }
  if (stored !== replay.accounts.size) fail('A4', `${stored} accounts stored, ${replay.accounts.size} replayed`);
  let holds = 0;
  for await (const h of view.holds()) {
    holds++;
    const r = replay.holds.get(h.quoteId);
    if (r === undefined || holdToJson(r) !== holdToJson(h)) fail('A4', `stored hold ${h.quoteId} differs from the replay`);
  }
  if (holds !== replay.holds.size) fail('A4', `${holds} holds stored, ${replay.holds.size} replayed`);
  let quotas = 0;
  for await (const [k, v] of view.quotas()) {
    quotas++;
    if (replay.quotas.get(k) !== v) fail('A4', `stored free-tier count ${k} differs from the replay`);
  }
  if (quotas !== replay.quotas.size) fail('A4', `${quotas} free-tier counters stored, ${replay.quotas.size} replayed`);
  let paid = 0;
  for await (const k of view.paidRewards()) {
    paid++;
    if (!replay.paid.has(k)) fail('A4', `stored paid reward ${k} is not in the replay`);
  }
  if (paid !== replay.paid.size) fail('A4', `${paid} paid rewards stored, ${replay.paid.size} replayed`);

  // A5
  const fromJournal = new Map<Hex20, bigint>();
  let journal = 0;
  for await (const p of view.postings()) {
    journal++;
    fromJournal.set(p.from, (fromJournal.get(p.from) ?? 0n) - p.amount);
    fromJournal.set(p.to, (fromJournal.get(p.to) ?? 0n) + p.amount);
  }
  if (journal !== postings) fail('A5', `${journal} postings stored, ${postings} replayed`);
  for (const [addr, acc] of replay.accounts) {
    if ((fromJournal.get(addr) ?? 0n) !== acc.balance) fail('A5', `the journal gives ${addr} a balance other than its state`);
  }

  return {
    ok: true,
    height: replay.height,
    blocks: n,
    transactions,
    postings,
    accounts: replay.accounts.size,
    debits: debits.toString(),
    credits: credits.toString(),
    supply: (-bal(SYSTEM.issuance)).toString(),
    burned: bal(SYSTEM.burn).toString(),
    ms: Math.round(performance.now() - t0),
  };
}
