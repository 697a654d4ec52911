import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ledgerTargetOf } from '../../src/cli/ledgerTarget.ts';
import { isBlyanError } from '../../src/errors.ts';
import { writeLedgerMode } from '../../src/node/ledgerMode.ts';
import { removeRunFile, writeRunFile } from '../../src/node/runFile.ts';
import { tempDir } from '../helpers/fixtures.ts';

/** Where `wallet send` / `ledger faucet` / `pay-rewards` commit, from what the data dir holds (no node process needed). */
test('ledger CLI target: the running node, else refused on a follower data dir, else local', () => {
  const t = tempDir('blyan-target-');
  const saved = { url: process.env.BLYAN_LEDGER_URL, boot: process.env.BLYAN_BOOTSTRAP, mode: process.env.BLYAN_LEDGER_PRODUCER };
  for (const k of ['BLYAN_LEDGER_URL', 'BLYAN_BOOTSTRAP', 'BLYAN_LEDGER_PRODUCER']) delete process.env[k];
  try {
    const d = t.dir;
    assert.deepEqual(ledgerTargetOf(d, undefined), { kind: 'local' }, 'a single node that never ran');
    writeLedgerMode(d, 'producer');
    assert.deepEqual(ledgerTargetOf(d, undefined), { kind: 'local' }, 'a producer, stopped');

    const refused = (why: RegExp) =>
      assert.throws(() => ledgerTargetOf(d, undefined), (e: unknown) => isBlyanError(e, 'LEDGER_FOLLOWER_OFFLINE') && why.test(e.message) && e.message.includes(`blyan up --data ${d}`));
    writeLedgerMode(d, 'follower');
    refused(/last ran as a follower/);
    // A running node takes over whatever its mode; a stale run file (a dead pid) is no node.
    writeRunFile(d, { url: 'http://127.0.0.1:1', pid: process.pid, role: 'full', peerId: null, multiaddrs: [] });
    assert.deepEqual(ledgerTargetOf(d, undefined), { kind: 'node', url: 'http://127.0.0.1:1' });
    writeRunFile(d, { url: 'http://127.0.0.1:1', pid: 2 ** 22 + 12345, role: 'full', peerId: null, multiaddrs: [] });
    refused(/last ran as a follower/);
    writeRunFile(d, { url: 'http://127.0.0.1:1', pid: process.pid, role: 'worker', peerId: null, multiaddrs: [] });
    assert.throws(() => ledgerTargetOf(d, undefined), (e: unknown) => isBlyanError(e, 'BAD_ARGUMENT') && /worker/.test(e.message));
    removeRunFile(d);

    // The configuration decides too: explicit `on` beats the last run; bootstrap peers or `off` make a follower.
    writeFileSync(join(d, 'node.json'), JSON.stringify({ ledgerProducer: 'on' }));
    assert.deepEqual(ledgerTargetOf(d, undefined), { kind: 'local' });
    writeLedgerMode(d, 'producer');
    writeFileSync(join(d, 'node.json'), JSON.stringify({ bootstrap: ['/ip4/127.0.0.1/tcp/7700/p2p/x'] }));
    refused(/bootstrap peers/);
    writeFileSync(join(d, 'node.json'), JSON.stringify({ ledgerProducer: 'off' }));
    refused(/ledgerProducer: off/);
    process.env.BLYAN_LEDGER_PRODUCER = 'on';
    assert.deepEqual(ledgerTargetOf(d, undefined), { kind: 'local' }, 'the environment beats the file, as for blyan up');
    delete process.env.BLYAN_LEDGER_PRODUCER;
    // A PostgreSQL ledger is shared by producers: committed there, as before.
    assert.deepEqual(ledgerTargetOf(d, 'postgres://u@127.0.0.1:5432/db'), { kind: 'local' });
  } finally {
    for (const [k, v] of [['BLYAN_LEDGER_URL', saved.url], ['BLYAN_BOOTSTRAP', saved.boot], ['BLYAN_LEDGER_PRODUCER', saved.mode]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    t.cleanup();
  }
});
