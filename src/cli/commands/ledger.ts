import type { Command } from 'commander';
import { BlyanError } from '../../errors.ts';
import { formatBly } from '../../ledger/amount.ts';
import { displayAddress, type Hex20 } from '../../ledger/systemAccounts.ts';
import { auditAction, faucetAction, historyAction, paramsAction, payRewardsAction, setParamsAction } from '../actions/ledgerActions.ts';
import { resolveDataDir } from '../dataDir.ts';
import { note, printJson, printLine } from '../output.ts';

/** `blyan ledger history|audit|faucet` (docs/ledger.md). Balances and transfers are under `blyan wallet`. */
interface Opts {
  data?: string;
  json?: boolean;
  ledgerUrl?: string;
}
const DATA_HELP = 'data directory (default: $BLYAN_DATA or ~/.blyan)';
export const LEDGER_URL_OPTION = ['--ledger-url <url>', "a PostgreSQL ledger shared by several nodes, postgres://… (default: $BLYAN_LEDGER_URL, else the data dir's own ledger)"] as const;

function parseLimit(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1 || n > 100_000) throw new BlyanError('BAD_ARGUMENT', `--limit must be 1 … 100000, got "${text}"`);
  return n;
}

export function registerLedgerCommands(program: Command): void {
  const ledger = program
    .command('ledger')
    .description('the BLY ledger on chain C: history, audit, devnet faucet and reward payouts')
    .addHelpText(
      'after',
      "\nfaucet, pay-rewards and `wallet send` add chain-C transactions. With a node running on the data dir they go through it\n(its POST /tx: on a network only the ledger producer writes chain C); on a follower's data dir whose node is down they\nare refused (LEDGER_FOLLOWER_OFFLINE: start it with `blyan up`); otherwise they are committed to the data dir's own ledger.",
    );

  ledger
    .command('history')
    .description('postings that moved BLY in or out of an address, newest first')
    .argument('<address>', '0x address')
    .option('--limit <n>', 'at most this many postings', '50')
    .option('--data <dir>', DATA_HELP)
    .option(...LEDGER_URL_OPTION)
    .option('--json', 'print the postings as JSON')
    .action(async (address: string, opts: Opts & { limit: string }) => {
      const rows = await historyAction(resolveDataDir(opts.data), address, parseLimit(opts.limit), opts.ledgerUrl);
      if (opts.json === true) return printJson(rows);
      for (const r of rows) {
        const other = r.direction === 'in' ? `from ${displayAddress(r.from as Hex20)}` : `to ${displayAddress(r.to as Hex20)}`;
        printLine(`C:${r.block}/${r.seq}  ${r.time as string}  ${String(r.kind).padEnd(16)} ${r.direction === 'in' ? '+' : '-'}${r.amountBly as string} BLY  ${other}`);
      }
    });

  ledger
    .command('audit')
    .description('recompute every balance from C:0 and prove debits = credits and that the stored state matches')
    .option('--data <dir>', DATA_HELP)
    .option(...LEDGER_URL_OPTION)
    .option('--json', 'print the audit report as JSON')
    .action(async (opts: Opts) => {
      const report = await auditAction(resolveDataDir(opts.data), opts.ledgerUrl);
      if (opts.json === true) return printJson(report);
      printLine(`ledger audit passed: C:0 … C:${report.height}, ${report.transactions} transactions, ${report.postings} postings, ${report.accounts} accounts (${report.ms} ms)`);
      printLine(`debits = credits = ${formatBly(BigInt(report.debits))} BLY; supply ${formatBly(BigInt(report.supply))} BLY; burned ${formatBly(BigInt(report.burned))} BLY`);
    });

  ledger
    .command('faucet')
    .description("tiny/devnet only: grant BLY from the treasury (signed with the public genesis authority key); through the data dir's running node if there is one")
    .argument('<to>', '0x address')
    .argument('<amount>', 'BLY, a decimal such as 10 or 0.5')
    .option('--data <dir>', DATA_HELP)
    .option(...LEDGER_URL_OPTION)
    .option('--json', 'print the receipt as JSON')
    .action(async (to: string, amount: string, opts: Opts) => {
      const receipt = await faucetAction(resolveDataDir(opts.data), to, amount, opts.ledgerUrl);
      if (opts.json === true) return printJson(receipt);
      printLine(`granted ${amount} BLY in block C:${receipt.block} (tx ${receipt.txId})`);
    });

  ledger
    .command('pay-rewards')
    .description("tiny/devnet only: pay the unpaid reward records of accepted deltas (signed with the public genesis authority key); through the data dir's running node if there is one")
    .option('--data <dir>', DATA_HELP)
    .option(...LEDGER_URL_OPTION)
    .option('--json', 'print one row per reward record as JSON')
    .action(async (opts: Opts) => {
      const rows = await payRewardsAction(resolveDataDir(opts.data), opts.ledgerUrl);
      if (opts.json === true) return printJson(rows);
      if (rows.length === 0) note('no reward records: nothing to pay');
      for (const r of rows) printLine(`${r.deltaBlock}  ${r.miner}  ${r.amount} BLY  ${r.status}${r.error === undefined ? '' : ` (${r.error})`}`);
    });

  ledger
    .command('params')
    .description('the economic parameters in force now (price, burn, free tier, rewards, authorities), scheduled changes, ignored params blocks')
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print {now, upcoming, refused} as JSON')
    .action(async (opts: Opts) => {
      const v = await paramsAction(resolveDataDir(opts.data));
      if (opts.json === true) return printJson(v);
      const p = v.now.params as { pricing: { perKiloToken: string; burnBps: string }; authorities: string[]; producer: string | null };
      printLine(`in force ${v.now.block === null ? 'since genesis (preset)' : `since ${new Date(v.now.activeFrom).toISOString()} (A block ${v.now.block.slice(0, 16)}…)`}`);
      printLine(`  price ${formatBly(BigInt(p.pricing.perKiloToken))} BLY per 1,000 tokens, burn ${Number(p.pricing.burnBps) / 100}%`);
      printLine(`  authorities ${p.authorities.join(', ')}`);
      printLine(`  ledger producer ${p.producer ?? 'any (not named on chain)'}`);
      for (const u of v.upcoming) printLine(`scheduled from ${new Date(u.activeFrom).toISOString()}: A block ${u.block?.slice(0, 16)}…`);
      for (const r of v.refused) printLine(`ignored params block ${r.block.slice(0, 16)}…: ${r.reason}`);
    });

  ledger
    .command('set-params')
    .description('append a chain-A params block (signed by a ledger authority) changing the price, burn, authorities or ledger producer from a future time on')
    .option('--price-per-1k <bly>', 'price of 1,000 tokens in BLY, e.g. 1 or 0.5')
    .option('--burn-bps <n>', 'share of each fee burned, in basis points (100 = 1%)')
    .option('--authorities <addrs>', 'comma-separated addresses: the new ledger authority (validator) set')
    .option('--producer <addr>', 'the ledger producer: the only author of chain-C blocks from then on ("none": any author again)')
    .option('--active-in <seconds>', 'seconds from now until the change applies (at least the network notice: 0 on tiny, 60 on devnet)')
    .option('--wallet <address>', 'the authority wallet that signs (default on tiny/devnet: the public genesis authority)')
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print the new block and the parameters it sets as JSON')
    .action(async (opts: Opts & { pricePer1k?: string; burnBps?: string; authorities?: string; producer?: string; activeIn?: string; wallet?: string }) => {
      if (opts.pricePer1k === undefined && opts.burnBps === undefined && opts.authorities === undefined && opts.producer === undefined) {
        throw new BlyanError('BAD_ARGUMENT', 'nothing to change: give --price-per-1k, --burn-bps, --authorities or --producer');
      }
      const r = await setParamsAction(resolveDataDir(opts.data), {
        ...(opts.pricePer1k === undefined ? {} : { pricePer1k: opts.pricePer1k }),
        ...(opts.burnBps === undefined ? {} : { burnBps: opts.burnBps }),
        ...(opts.authorities === undefined ? {} : { authorities: opts.authorities }),
        ...(opts.producer === undefined ? {} : { producer: opts.producer }),
        ...(opts.activeIn === undefined ? {} : { activeInSeconds: opts.activeIn }),
        ...(opts.wallet === undefined ? {} : { wallet: opts.wallet }),
      });
      if (opts.json === true) return printJson(r);
      printLine(`params block A:${r.index} ${r.block}; in force from ${new Date(r.activeFrom).toISOString()}`);
    });
}
