import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GENESIS_PRIVATE_KEY } from '../../chain/genesis.ts';
import { BlyanError } from '../../errors.ts';
import { ONE_BLY } from '../../ledger/amount.ts';
import { GENESIS_AUTHORITY } from '../../ledger/params.ts';
import type { Posting } from '../../ledger/state.ts';
import { SYSTEM, type Hex20, systemAccountName } from '../../ledger/systemAccounts.ts';
import { ledgerDomain, signTx } from '../../ledger/tx.ts';
import { txFromJson } from '../../ledger/txCodec.ts';
import { FreeAllowance } from '../../node/freeAllowance.ts';
import { NonceBook } from '../../node/nonceBook.ts';
import type { ApiDeps } from '../deps.ts';
import { parse } from '../validate.ts';
import { AddressText, display } from './wallet.ts';
import { paramsView } from '../../ledger/paramsView.ts';

const TxBody = z.strictObject({
  type: z.string().min(1).max(32),
  message: z.record(z.string(), z.unknown()),
  signature: z.string(),
  /** Optional: when given it must be this network's domain (checked by the ledger, with a clear error). */
  domain: z.object({ name: z.string().max(64), version: z.string().max(16), chainId: z.number().int().nonnegative().max(2 ** 32 - 1) }).strict().optional(),
});
const IdemHeader = z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').optional();
const FaucetBody = z.strictObject({ address: AddressText });
const LimitQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(20) });
const AddressParam = z.strictObject({ address: AddressText });

/** Devnet faucet: this much per address per UTC day, and at most this many grants per IP per day. */
export const FAUCET_AMOUNT = 100n * ONE_BLY;
const FAUCET_PER_IP_PER_DAY = 20;
const REWARD_KINDS: ReadonlySet<Posting['kind']> = new Set(['delta-reward', 'usage-reward', 'validator-reward']);

/** Signed transactions in, and the economy's numbers out. */
export function ledgerRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { ledger, store } = deps;
  const faucetLimits = new FreeAllowance(store);
  const nonces = new NonceBook((a) => ledger.account(a));

  app.post('/tx', async (req) => {
    const body = parse(TxBody, req.body, 'body');
    const key = parse(IdemHeader, req.headers['idempotency-key'], 'header idempotency-key');
    const tx = txFromJson({ domain: body.domain ?? ledgerDomain(ledger.params.chainId), primaryType: body.type, message: body.message, signature: body.signature });
    const receipt = await ledger.submit(tx, key === undefined ? {} : { idempotencyKey: key });
    return { ...receipt, from: display(receipt.from) };
  });

  app.post('/faucet', async (req) => {
    const preset = store.preset.name;
    if (preset !== 'devnet' && preset !== 'tiny') throw new BlyanError('NOT_ON_THIS_NETWORK', `the faucet only exists on devnet and tiny networks; this is ${preset}`);
    const { address } = parse(FaucetBody, req.body, 'body');
    if (systemAccountName(address) !== undefined) throw new BlyanError('LEDGER_RESERVED_ACCOUNT', 'system accounts cannot use the faucet');
    const now = Date.now();
    if (!faucetLimits.take(`faucet:ip:${req.ip}`, FAUCET_PER_IP_PER_DAY, now)) {
      throw new BlyanError('RATE_LIMITED', `at most ${FAUCET_PER_IP_PER_DAY} faucet grants per IP per day`);
    }
    if (!faucetLimits.take(`faucet:${address}`, 1, now)) {
      throw new BlyanError('RATE_LIMITED', `${display(address)} already received today's faucet grant; try again after 00:00 UTC`);
    }
    // The faucet signs with the genesis authority, whose key is public on tiny and devnet; it only works
    // while that key is a ledger authority (a params block may hand authority to a validator set).
    const authority = GENESIS_AUTHORITY;
    if (!ledger.paramsAt(now).authorities.includes(authority)) {
      const day = Math.floor(now / 86_400_000);
      faucetLimits.giveBack(`faucet:${address}`, day);
      faucetLimits.giveBack(`faucet:ip:${req.ip}`, day);
      throw new BlyanError('LEDGER_NOT_AUTHORIZED', 'the faucet is closed: the public genesis authority is no longer a ledger authority on this network');
    }
    const tx = signTx('Grant', { from: authority, to: address, amount: FAUCET_AMOUNT, nonce: await nonces.take(authority) }, ledgerDomain(ledger.params.chainId), GENESIS_PRIVATE_KEY);
    try {
      const r = await ledger.submit(tx);
      return { address: display(address), amount: FAUCET_AMOUNT.toString(), txId: r.txId, block: r.block };
    } catch (err) {
      const day = Math.floor(now / 86_400_000);
      faucetLimits.giveBack(`faucet:${address}`, day);
      faucetLimits.giveBack(`faucet:ip:${req.ip}`, day);
      throw err;
    }
  });

  /** Where every BLY is: issued = users + staked + escrow + pools + burned (the audit proves it). */
  app.get('/economy/supply', async () =>
    ledger.store.withView(async (view) => {
      let users = 0n;
      let accounts = 0;
      const sys = new Map<Hex20, bigint>();
      for await (const [addr, acc] of view.accounts()) {
        if (systemAccountName(addr) === undefined) {
          users += acc.balance;
          accounts++;
        } else sys.set(addr, acc.balance);
      }
      const bal = (a: Hex20) => sys.get(a) ?? 0n;
      const issued = -bal(SYSTEM.issuance);
      return {
        height: view.height,
        issued: issued.toString(),
        burned: bal(SYSTEM.burn).toString(),
        circulating: (issued - bal(SYSTEM.burn)).toString(),
        users: users.toString(),
        accounts,
        staked: bal(SYSTEM.stakeVault).toString(),
        escrow: bal(SYSTEM.escrow).toString(),
        rewardPool: bal(SYSTEM.rewardPool).toString(),
        validationPool: bal(SYSTEM.validationPool).toString(),
        treasury: bal(SYSTEM.treasury).toString(),
      };
    }),
  );

  /** Whether this node produces chain C or follows the network's producer, and its chain-C head (docs/ledger.md §9.4). */
  app.get('/ledger/status', async () => ledger.status());

  /** The economic parameters in force now and the scheduled changes (chain-A params blocks). */
  app.get('/economy/params', async () => paramsView(store));

  /** Accounts by rewards earned (miners, validators, expert hosts), most first. */
  app.get('/economy/leaderboard', async (req) => {
    const { limit } = parse(LimitQuery, req.query, 'query');
    const rows: { address: Hex20; rewards: bigint; balance: bigint; stake: bigint }[] = [];
    await ledger.store.withView(async (view) => {
      for await (const [address, acc] of view.accounts()) {
        if (systemAccountName(address) === undefined && acc.rewards > 0n) rows.push({ address, rewards: acc.rewards, balance: acc.balance, stake: acc.stake });
      }
    });
    rows.sort((a, b) => (a.rewards === b.rewards ? a.address.localeCompare(b.address) : a.rewards > b.rewards ? -1 : 1));
    return rows.slice(0, limit).map((r, i) => ({ rank: i + 1, address: display(r.address), rewards: r.rewards.toString(), balance: r.balance.toString(), stake: r.stake.toString() }));
  });

  app.get('/economy/rewards/user/:address', async (req) => {
    const { address } = parse(AddressParam, req.params, 'params');
    const { limit } = parse(LimitQuery, req.query, 'query');
    const rewards = (await ledger.history(address, 10_000))
      .filter((p) => REWARD_KINDS.has(p.kind) && p.to === address)
      .slice(0, limit)
      .map((p) => ({ kind: p.kind, amount: p.amount.toString(), block: p.block, txId: p.txId, time: p.time }));
    return { address: display(address), total: ((await ledger.account(address))?.rewards ?? 0n).toString(), rewards };
  });
}
