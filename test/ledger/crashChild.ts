// Child process for crash.test.ts: submits ledger transactions forever (several per block) and reports
// each committed transaction on stdout. The parent SIGKILLs it at a random moment.
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import { authorizeMessage, makeQuote } from '../../src/ledger/pricing.ts';
import { AUTHORITY, bly, PARAMS, sign, user } from './helpers.ts';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: crashChild DIR');
const { store } = BlockStore.init(dir, TINY);
const ledger = Ledger.open(store, { producerKey: user('producer').key });
const alice = user('alice');
const bob = user('bob');
const nonce = (a: `0x${string}`) => ledger.store.account(a)?.nonce ?? 0n;

for (;;) {
  const n = nonce(AUTHORITY.addr);
  const txs = [
    sign(AUTHORITY, 'Grant', { to: alice.addr, amount: bly(1), nonce: n }),
    sign(alice, 'Transfer', { to: bob.addr, amount: bly(1) / 3n, nonce: nonce(alice.addr) }),
    sign(bob, 'Authorize', authorizeMessage(makeQuote({ provider: alice.addr, maxTokens: 10n, now: Date.now() }, PARAMS), bob.addr, nonce(bob.addr))),
  ];
  const results = await Promise.allSettled(txs.map((tx) => ledger.submit(tx)));
  for (const r of results) if (r.status === 'fulfilled') process.stdout.write(`committed ${r.value.block} ${r.value.txId}\n`);
}
