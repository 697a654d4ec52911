import { formatAddress, parseAddress } from '../../chain/address.ts';
import { GENESIS_PRIVATE_KEY } from '../../chain/genesis.ts';
import type { BlockStore } from '../../chain/store.ts';
import { BlyanError, isBlyanError } from '../../errors.ts';
import { formatBly, parseBly } from '../../ledger/amount.ts';
import { type AuditReport, auditLedger } from '../../ledger/audit.ts';
import { trustLevelOf } from '../../ledger/freeTier.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import type { LedgerStore, TxReceipt } from '../../ledger/ledgerStore.ts';
import { closeLedger, ledgerUrlFrom, openLedger } from '../../ledger/openLedger.ts';
import { deltaRewardAmount, deltaRewardKey, deltaRewardMessage, fromLearningRecord } from '../../ledger/rewards.ts';
import { EMPTY_ACCOUNT } from '../../ledger/state.ts';
import { postingView } from '../../ledger/stateCodec.ts';
import { displayAddress, type Hex20, hexAddress } from '../../ledger/systemAccounts.ts';
import { ledgerDomain, signTx } from '../../ledger/tx.ts';
import { RewardRecords } from '../../learning/rewardRecords.ts';
import { createBlock } from '../../chain/block.ts';
import { toHex } from '../../chain/hash.ts';
import { addressOf } from '../../chain/sign.ts';
import { changeOf, encodeParamsChange } from '../../ledger/paramsBlock.ts';
import { GENESIS_AUTHORITY } from '../../ledger/params.ts';
import { PARAMS_NOTICE_MS, paramsScheduleOf } from '../../ledger/paramsSchedule.ts';
import { type ParamsView, paramsJson, paramsView } from '../../ledger/paramsView.ts';
import { findWallet } from '../../wallet/walletStore.ts';
import { unlockWallet } from '../../wallet/signer.ts';
import { type LedgerTarget, ledgerTargetOf } from '../ledgerTarget.ts';
import { NodeLedger, type TxChannel } from '../nodeLedger.ts';
import { openStore } from '../openStore.ts';

/** The ledger commands' work, apart from argument parsing and printing (src/cli/commands/ledger.ts, wallet.ts). */

/**
 * Opens the data dir's ledger: the embedded LMDB one, or the PostgreSQL ledger named by `--ledger-url` /
 * $BLYAN_LEDGER_URL (shared by several node processes; docs/ledger.md §9.2).
 */
export async function withLedger<T>(
  dataDir: string,
  producerKey: Uint8Array | undefined,
  fn: (ledger: Ledger<LedgerStore>, store: BlockStore) => Promise<T> | T,
  ledgerUrl?: string,
): Promise<T> {
  const store = openStore(dataDir);
  try {
    const ledger = await openLedger(store, { url: ledgerUrlFrom(ledgerUrl), ...(producerKey === undefined ? {} : { producerKey }) });
    try {
      return await fn(ledger, store);
    } finally {
      await closeLedger(ledger);
    }
  } finally {
    await store.close();
  }
}

/**
 * Runs `fn` with where the transaction goes (src/cli/ledgerTarget.ts): the node running on the data dir, or the
 * data dir's own ledger, opened with `producerKey` as the author of the block that will hold it.
 */
async function withTxChannel<T>(dataDir: string, target: LedgerTarget, producerKey: Uint8Array, ledgerUrl: string | undefined, fn: (ch: TxChannel) => Promise<T>): Promise<T> {
  if (target.kind === 'node') return fn(new NodeLedger(target.url));
  return withLedger(
    dataDir,
    producerKey,
    (ledger) =>
      fn({
        domain: async () => ledgerDomain(ledger.params.chainId),
        nonce: async (address) => (await ledger.account(address))?.nonce ?? 0n,
        submit: (tx, idempotencyKey) => ledger.submit(tx, idempotencyKey === undefined ? undefined : { idempotencyKey }),
      }),
    ledgerUrl,
  );
}

function toHex20(text: string): Hex20 {
  return hexAddress(parseAddress(text));
}

export interface BalanceView {
  address: string;
  balance: string;
  balanceUnits: string;
  stake: string;
  nonce: string;
  rewards: string;
  trustLevel: string;
  known: boolean;
}

/** ADDR, or the data dir's only wallet when no address is given. */
export async function balanceAction(dataDir: string, address: string | undefined, ledgerUrl?: string): Promise<BalanceView> {
  const addr = toHex20(address ?? (await findWallet(dataDir)).address);
  return withLedger(dataDir, undefined, async (ledger) => {
    const stored = await ledger.account(addr);
    const acc = stored ?? EMPTY_ACCOUNT;
    return {
      address: displayAddress(addr),
      balance: formatBly(acc.balance),
      balanceUnits: acc.balance.toString(),
      stake: formatBly(acc.stake),
      nonce: acc.nonce.toString(),
      rewards: formatBly(acc.rewards),
      trustLevel: trustLevelOf(stored, ledger.params),
      known: stored !== undefined,
    };
  }, ledgerUrl);
}

export interface SendResult extends Omit<TxReceipt, 'from'> {
  from: string;
  to: string;
  amount: string;
}

/**
 * Signs a Transfer with the wallet and commits it: through the node running on the data dir when there is one,
 * else in a block of the data dir's own ledger (a single node); refused on a follower's data dir whose node is
 * down (src/cli/ledgerTarget.ts).
 */
export async function sendAction(dataDir: string, to: string, amount: string, from: string | undefined, ledgerUrl?: string): Promise<SendResult> {
  const dest = toHex20(to);
  const units = parseBly(amount);
  // Before the passphrase and the seconds of scrypt: a refusal should not cost them.
  const target = ledgerTargetOf(dataDir, ledgerUrl);
  const wallet = await unlockWallet(dataDir, from === undefined ? {} : { address: from });
  try {
    const sender = hexAddress(wallet.address);
    const result = (receipt: TxReceipt): SendResult => ({ ...receipt, from: formatAddress(wallet.address), to: formatAddress(parseAddress(to)), amount: formatBly(units) });
    return await withTxChannel(dataDir, target, wallet.privateKey, ledgerUrl, async (ch) => {
      const tx = signTx('Transfer', { from: sender, to: dest, amount: units, nonce: await ch.nonce(sender) }, await ch.domain(), wallet.privateKey);
      return result(await ch.submit(tx));
    });
  } finally {
    wallet.privateKey.fill(0);
  }
}

/**
 * tiny and devnet only: a Grant of any amount from the treasury, signed by the public genesis authority key (the
 * node's POST /faucet grants a fixed amount once a day; this is the operator's tool). Committed where sendAction
 * commits.
 */
export async function faucetAction(dataDir: string, to: string, amount: string, ledgerUrl?: string): Promise<TxReceipt> {
  const dest = toHex20(to);
  const units = parseBly(amount);
  const authority = GENESIS_AUTHORITY;
  const target = ledgerTargetOf(dataDir, ledgerUrl);
  return withTxChannel(dataDir, target, GENESIS_PRIVATE_KEY, ledgerUrl, async (ch) => {
    const tx = signTx('Grant', { from: authority, to: dest, amount: units, nonce: await ch.nonce(authority) }, await ch.domain(), GENESIS_PRIVATE_KEY);
    return ch.submit(tx);
  });
}

export async function historyAction(dataDir: string, address: string, limit: number, ledgerUrl?: string): Promise<Record<string, unknown>[]> {
  const addr = toHex20(address);
  return withLedger(dataDir, undefined, async (ledger) => {
    const rows = await ledger.history(addr, limit);
    if (rows.length === 0 && (await ledger.account(addr)) === undefined) {
      throw new BlyanError('LEDGER_UNKNOWN_ACCOUNT', `${formatAddress(parseAddress(address))} has no account on this ledger`, { account: addr });
    }
    return rows.map((p) => ({ ...postingView(p), amountBly: formatBly(p.amount), direction: p.to === addr ? 'in' : 'out' }));
  }, ledgerUrl);
}

export async function auditAction(dataDir: string, ledgerUrl?: string): Promise<AuditReport> {
  return withLedger(dataDir, undefined, (ledger, store) => auditLedger(store, ledger.store), ledgerUrl);
}

export interface RewardPayout {
  deltaBlock: string;
  miner: string;
  improvementPpm: string;
  amount: string;
  status: 'paid' | 'already-paid' | 'refused';
  error?: string;
}

/**
 * tiny/devnet only: pays every reward record of the learning loop (accepted deltas) not yet paid, with
 * DeltaReward transactions signed by the public genesis authority. A refused payout (e.g. an exhausted
 * reward pool, or an improvement too small to earn anything) is reported and the others still go through.
 */
export async function payRewardsAction(dataDir: string, ledgerUrl?: string): Promise<RewardPayout[]> {
  const target = ledgerTargetOf(dataDir, ledgerUrl);
  if (target.kind === 'node') return payRewardsThroughNode(dataDir, new NodeLedger(target.url));
  return withLedger(dataDir, GENESIS_PRIVATE_KEY, async (ledger, store) => {
    const authority = GENESIS_AUTHORITY;
    let nonce = (await ledger.account(authority))?.nonce ?? 0n;
    const out: RewardPayout[] = [];
    const pending: Promise<void>[] = [];
    for (const learning of new RewardRecords(store).list()) {
      const r = fromLearningRecord(learning);
      const row: RewardPayout = { deltaBlock: r.deltaBlock, miner: r.miner, improvementPpm: r.improvementPpm.toString(), amount: formatBly(deltaRewardAmount(r.improvementPpm, ledger.params)), status: 'paid' };
      out.push(row);
      if (await ledger.rewardPaid(deltaRewardKey(r))) {
        row.status = 'already-paid';
        continue;
      }
      const tx = signTx('DeltaReward', deltaRewardMessage(r, authority, nonce++), ledgerDomain(ledger.params.chainId), GENESIS_PRIVATE_KEY);
      pending.push(
        ledger.submit(tx, { idempotencyKey: deltaRewardKey(r) }).then(
          () => undefined,
          (err: unknown) => {
            row.status = 'refused';
            row.error = err instanceof BlyanError ? `${err.code}: ${err.message}` : String(err);
          },
        ),
      );
    }
    await Promise.all(pending);
    return out;
  }, ledgerUrl);
}

/**
 * payRewardsAction with a node running on the data dir: the reward records and what is already paid are read
 * here (the data dir's ledger applies the node's chain C), the payouts go through the node one at a time, each
 * with the nonce the node's view gives after the previous one (on a follower, the producer's mempool takes only
 * the next nonce of an account, so several at once would be refused).
 */
async function payRewardsThroughNode(dataDir: string, node: NodeLedger): Promise<RewardPayout[]> {
  const authority = GENESIS_AUTHORITY;
  const owed = await withLedger(dataDir, undefined, async (ledger, store) => {
    const rows: { reward: ReturnType<typeof fromLearningRecord>; row: RewardPayout }[] = [];
    for (const learning of new RewardRecords(store).list()) {
      const r = fromLearningRecord(learning);
      const row: RewardPayout = { deltaBlock: r.deltaBlock, miner: r.miner, improvementPpm: r.improvementPpm.toString(), amount: formatBly(deltaRewardAmount(r.improvementPpm, ledger.params)), status: 'paid' };
      if (await ledger.rewardPaid(deltaRewardKey(r))) row.status = 'already-paid';
      rows.push({ reward: r, row });
    }
    return rows;
  });
  const domain = owed.some((o) => o.row.status === 'paid') ? await node.domain() : undefined;
  for (const { reward, row } of owed) {
    if (row.status !== 'paid' || domain === undefined) continue;
    try {
      const tx = signTx('DeltaReward', deltaRewardMessage(reward, authority, await node.nonce(authority)), domain, GENESIS_PRIVATE_KEY);
      await node.submit(tx, deltaRewardKey(reward));
    } catch (err) {
      row.status = isBlyanError(err, 'LEDGER_ALREADY_PAID') ? 'already-paid' : 'refused';
      if (row.status === 'refused') row.error = err instanceof BlyanError ? `${err.code}: ${err.message}` : String(err);
    }
  }
  return owed.map((o) => o.row);
}

export async function paramsAction(dataDir: string): Promise<ParamsView> {
  const store = openStore(dataDir);
  try {
    return paramsView(store);
  } finally {
    await store.close();
  }
}

export interface SetParamsOptions {
  readonly pricePer1k?: string;
  readonly burnBps?: string;
  readonly authorities?: string;
  /** The ledger producer's address, or "none" (any author). Unset: the producer in force stays. */
  readonly producer?: string;
  readonly activeInSeconds?: string;
  /** Sign with this wallet of the data dir; default on tiny/devnet: the public genesis authority. */
  readonly wallet?: string;
}

/**
 * Appends a chain-A `params` block: the parameters in force now with the given changes, from `activeFrom`
 * on. Signed by a ledger authority (rule P2); checked against the same rules the schedule applies before
 * anything is written, so a block that would be ignored is never made.
 */
export async function setParamsAction(dataDir: string, opts: SetParamsOptions): Promise<{ block: string; index: number; activeFrom: number; params: Record<string, unknown> }> {
  let key: Uint8Array;
  let wipe = false;
  const store = openStore(dataDir);
  try {
    if (opts.wallet === undefined) {
      if (store.preset.name !== 'tiny' && store.preset.name !== 'devnet') throw new BlyanError('BAD_ARGUMENT', 'name the authority wallet that signs the change: --wallet 0x…');
      key = GENESIS_PRIVATE_KEY;
    } else {
      key = (await unlockWallet(dataDir, { address: opts.wallet })).privateKey;
      wipe = true;
    }
    try {
      const head = store.headOf('A');
      if (head === undefined) throw new BlyanError('STORE_NOT_INITIALISED', 'chain A is empty');
      const now = Math.max(Date.now(), head.header.time);
      const notice = PARAMS_NOTICE_MS[store.preset.name];
      const wait = opts.activeInSeconds === undefined ? notice : Number(opts.activeInSeconds) * 1000;
      if (!Number.isFinite(wait) || wait < notice) throw new BlyanError('BAD_ARGUMENT', `--active-in must be at least ${notice / 1000} s on ${store.preset.network} (every node needs the block before it applies)`);
      const activeFrom = now + Math.ceil(wait);
      const current = paramsScheduleOf(store).at(activeFrom);
      const change = changeOf(current, activeFrom);
      const pricing = {
        ...change.pricing,
        ...(opts.pricePer1k === undefined ? {} : { perKiloToken: parseBly(opts.pricePer1k) }),
        ...(opts.burnBps === undefined ? {} : { burnBps: parseBpsArg(opts.burnBps) }),
      };
      const authorities = opts.authorities === undefined ? change.authorities : opts.authorities.split(',').map((a) => toHex20(a.trim()));
      const producer = opts.producer === undefined ? change.producer : opts.producer.trim().toLowerCase() === 'none' ? null : toHex20(opts.producer.trim());
      const payload = encodeParamsChange({ ...change, pricing, authorities, producer });
      const signer = hexAddress(addressOf(key));
      if (!paramsScheduleOf(store).at(now).authorities.includes(signer)) {
        throw new BlyanError('LEDGER_NOT_AUTHORIZED', `${formatAddress(addressOf(key))} is not a ledger authority now; only an authority may change the parameters`);
      }
      const block = createBlock({ chain: 'A', index: head.header.index + 1, prev: head.id, deps: [], type: 'params', time: now }, payload, key, store.preset);
      store.append(block, payload);
      const entry = paramsScheduleOf(store).entries.find((e) => e.block === toHex(block.id));
      if (entry === undefined) throw new BlyanError('LEDGER_BAD_PARAMS', 'the new params block was not accepted by the schedule');
      return { block: toHex(block.id), index: block.header.index, activeFrom, params: paramsJson(entry.params) };
    } finally {
      if (wipe) key.fill(0);
    }
  } finally {
    await store.close();
  }
}

function parseBpsArg(text: string): bigint {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 10_000) throw new BlyanError('BAD_ARGUMENT', `--burn-bps must be 0 … 10000 (basis points), got "${text}"`);
  return BigInt(text);
}
