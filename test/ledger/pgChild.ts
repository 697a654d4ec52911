// A node process on a shared PostgreSQL ledger, for pgMultiProcess.test.ts. Usage:
//   pgChild.ts charges URL DATADIR TAG NOW N   — waits for "go" on stdin, then submits N Authorize charges of the
//       shared payer (the same signed txs in every child) interleaved with 50 transfers of its own; prints one JSON
//       line per result and exits
//   pgChild.ts loop URL DATADIR TAG            — submits small batches forever, printing "committed <block> <txId>"
//       for each committed tx; the parent SIGKILLs it
import { createInterface } from 'node:readline';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { isBlyanError } from '../../src/errors.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import { PgLedgerStore } from '../../src/ledger/pgStore.ts';
import { authorizeMessage, makeQuote } from '../../src/ledger/pricing.ts';
import type { AnyTx } from '../../src/ledger/tx.ts';
import { AUTHORITY, bly, PARAMS, sign, user } from './helpers.ts';

const [mode, url, dir, tag, nowArg, nArg] = process.argv.slice(2);
if (mode === undefined || url === undefined || dir === undefined || tag === undefined) throw new Error('usage: pgChild.ts charges|loop URL DATADIR TAG [NOW N]');
const store = await PgLedgerStore.open({ url, preset: TINY, params: PARAMS });
const { store: blocks } = BlockStore.init(dir, TINY);
const ledger = Ledger.over(store, blocks, { producerKey: user(`producer-${tag}`).key, maxBatch: 16 });
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** The shared payer's charges: identical in every child (same quotes, same nonces, same signatures). */
function charges(now: number, n: number): AnyTx[] {
  const payer = user('payer');
  return Array.from({ length: n }, (_, i) => {
    const q = makeQuote({ provider: user('provider').addr, maxTokens: 1000n, now, quoteId: `0x${i.toString(16).padStart(64, '0')}` }, PARAMS);
    return sign(payer, 'Authorize', authorizeMessage(q, payer.addr, BigInt(i)));
  });
}

if (mode === 'charges') {
  const list = charges(Number(nowArg), Number(nArg));
  const mine = user(`spender-${tag}`);
  const own = Array.from({ length: 50 }, (_, i) => sign(mine, 'Transfer', { to: user('sink').addr, amount: 1n, nonce: BigInt(i) }));
  out('ready');
  const rl = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => rl.once('line', () => resolve()));
  rl.close();
  const jobs: Promise<void>[] = [];
  for (const [i, tx] of list.entries()) {
    jobs.push(
      ledger.submit(tx).then(
        (r) => out(JSON.stringify({ kind: 'charge', i, receipt: r })),
        (e: unknown) => out(JSON.stringify({ kind: 'charge', i, error: isBlyanError(e) ? e.code : String(e) })),
      ),
    );
    const t = own[Math.floor(i / 12)];
    if (i % 12 === 0 && t !== undefined) {
      jobs.push(
        ledger.submit(t).then(
          (r) => out(JSON.stringify({ kind: 'own', receipt: r })),
          (e: unknown) => out(JSON.stringify({ kind: 'own', error: isBlyanError(e) ? e.code : String(e) })),
        ),
      );
    }
  }
  await Promise.all(jobs);
  await store.close();
  await blocks.close();
} else {
  const alice = user(`alice-${tag}`);
  const bob = user(`bob-${tag}`);
  for (;;) {
    const snap = await ledger.read({ accounts: [AUTHORITY.addr, alice.addr, bob.addr] });
    const nonce = (a: `0x${string}`) => snap.account(a)?.nonce ?? 0n;
    const txs = [
      sign(AUTHORITY, 'Grant', { to: alice.addr, amount: bly(1), nonce: nonce(AUTHORITY.addr) }),
      sign(alice, 'Transfer', { to: bob.addr, amount: bly(1) / 3n, nonce: nonce(alice.addr) }),
      sign(bob, 'Authorize', authorizeMessage(makeQuote({ provider: alice.addr, maxTokens: 10n, now: Date.now() }, PARAMS), bob.addr, nonce(bob.addr))),
    ];
    const results = await Promise.allSettled(txs.map((tx) => ledger.submit(tx)));
    for (const r of results) if (r.status === 'fulfilled') out(`committed ${r.value.block} ${r.value.txId}`);
  }
}
