import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatAddress } from '../../src/chain/address.ts';
import { addressOf } from '../../src/chain/sign.ts';
import { blyan, blyanJson } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { user } from './helpers.ts';

test('wallet balance/send and ledger history/audit/faucet, with one-line typed errors', () => {
  const { dir, cleanup } = tempDir('blyan-ledger-cli-');
  try {
    const env = { BLYAN_PASSPHRASE: 'correct horse battery staple' };
    const alice = user('cli-alice');
    const me = formatAddress(addressOf(alice.key));
    const bob = formatAddress(addressOf(user('cli-bob').key));
    blyanJson(['init', '--preset', 'tiny', '--data', dir]);
    const keyFile = join(dir, 'key.txt');
    writeFileSync(keyFile, Buffer.from(alice.key).toString('hex'));
    blyanJson(['wallet', 'import', keyFile, '--light-kdf', '--data', dir], env);

    const granted = blyanJson<{ block: number }>(['ledger', 'faucet', me, '10', '--data', dir]);
    assert.equal(granted.block, 1);
    const bal = blyanJson<{ balance: string; known: boolean }>(['wallet', 'balance', '--data', dir]);
    assert.equal(bal.balance, '10');
    const sent = blyanJson<{ amount: string; to: string }>(['wallet', 'send', bob, '2.5', '--data', dir], env);
    assert.equal(sent.amount, '2.5');
    assert.equal(blyanJson<{ balance: string }>(['wallet', 'balance', bob, '--data', dir]).balance, '2.5');
    const hist = blyanJson<{ kind: string; direction: string; amountBly: string }[]>(['ledger', 'history', bob, '--data', dir]);
    assert.deepEqual(hist.map((h) => [h.kind, h.direction, h.amountBly]), [['transfer', 'in', '2.5']]);
    const audit = blyanJson<{ ok: boolean; transactions: number; debits: string; credits: string }>(['ledger', 'audit', '--data', dir]);
    assert.equal(audit.ok, true);
    assert.equal(audit.transactions, 2);
    assert.equal(audit.debits, audit.credits);

    const errors: [string[], string][] = [
      [['wallet', 'send', bob, '100', '--data', dir], 'LEDGER_INSUFFICIENT_FUNDS'],
      [['wallet', 'send', bob, '-1', '--data', dir], 'LEDGER_BAD_AMOUNT'],
      [['ledger', 'history', formatAddress(addressOf(user('nobody').key)), '--data', dir], 'LEDGER_UNKNOWN_ACCOUNT'],
    ];
    for (const [args, code] of errors) {
      const r = blyan(args, env);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^error \\[${code}\\]`));
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one-line reason');
    }
    assert.equal(blyan(['ledger', 'audit', '--help']).code, 0);
  } finally {
    cleanup();
  }
});
