// Several node processes on one PostgreSQL ledger (the service-node setup): real child processes
// (pgChild.ts) against a real server this file starts.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { auditStore } from '../../src/ledger/audit.ts';
import { importChain } from '../../src/ledger/chainImport.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import type { TxReceipt } from '../../src/ledger/ledgerStore.ts';
import { PgLedgerStore } from '../../src/ledger/pgStore.ts';
import { priceOf } from '../../src/ledger/pricing.ts';
import { accountToJson } from '../../src/ledger/stateCodec.ts';
import { SYSTEM } from '../../src/ledger/systemAccounts.ts';
import { ledgerDomain, toHex0x, txDigest } from '../../src/ledger/tx.ts';
import { decodeBatch } from '../../src/ledger/txCodec.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { type PgServer, startPostgres } from '../helpers/postgres.ts';
import { AUTHORITY, PARAMS, sign, user } from './helpers.ts';

let server: PgServer | undefined;
const tmp = tempDir('blyan-ledger-pgmp-');
before(async () => {
  server = await startPostgres();
});
after(() => {
  server?.stop();
  tmp.cleanup();
});

let dirSeq = 0;
function child(args: string[]): { proc: ChildProcessWithoutNullStreams; lines: string[]; onLine: (fn: (l: string) => void) => void; exited: Promise<string> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'test/ledger/pgChild.ts', ...args.slice(0, 2), join(tmp.dir, `node${++dirSeq}`), ...args.slice(2)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners: ((l: string) => void)[] = [];
  let buf = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const l of parts) {
      lines.push(l);
      for (const fn of listeners) fn(l);
    }
  });
  proc.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<string>((resolve) => proc.on('exit', (code, signal) => resolve(`${signal ?? code}: ${stderr}`)));
  return { proc, lines, onLine: (fn) => listeners.push(fn), exited };
}

const waitFor = (c: ReturnType<typeof child>, pred: (lines: string[]) => boolean): Promise<void> =>
  new Promise((resolve, reject) => {
    if (pred(c.lines)) return resolve();
    c.onLine(() => {
      if (pred(c.lines)) resolve();
    });
    void c.exited.then((why) => reject(new Error(`child exited early (${why})`)));
  });

async function newLedgerDb(name: string): Promise<{ url: string; store: PgLedgerStore; ledger: Ledger<PgLedgerStore>; close: () => Promise<void> }> {
  if (server === undefined) throw new Error('the PostgreSQL test server did not start');
  const url = await server.createDatabase(name);
  const store = await PgLedgerStore.open({ url, preset: TINY, params: PARAMS });
  const { store: blocks } = BlockStore.init(join(tmp.dir, `parent-${name}`), TINY);
  const ledger = Ledger.over(store, blocks, { producerKey: user('producer-parent').key });
  return {
    url,
    store,
    ledger,
    close: async () => {
      await store.close();
      await blocks.close();
    },
  };
}

interface ChargeLine {
  kind: 'charge' | 'own';
  i?: number;
  receipt?: TxReceipt;
  error?: string;
}

test('two processes charge one account concurrently: no overdraft, one receipt per charge, chain C linear, audit passes', { timeout: 300_000 }, async () => {
  const db = await newLedgerDb('multi_charges');
  try {
    const price = priceOf(1000n, PARAMS);
    const payer = user('payer');
    await db.ledger.submit(sign(AUTHORITY, 'Grant', { to: payer.addr, amount: price * 200n, nonce: 0n }));
    await db.ledger.submit(sign(AUTHORITY, 'Grant', { to: user('spender-a').addr, amount: 1000n, nonce: 1n }));
    await db.ledger.submit(sign(AUTHORITY, 'Grant', { to: user('spender-b').addr, amount: 1000n, nonce: 2n }));
    const now = Date.now();
    const kids = ['a', 'b'].map((tag) => child(['charges', db.url, tag, String(now), '600']));
    await Promise.all(kids.map((k) => waitFor(k, (ls) => ls.includes('ready'))));
    for (const k of kids) k.proc.stdin.write('go\n');
    const ends = await Promise.all(kids.map((k) => k.exited));
    for (const why of ends) assert.match(why, /^0:/, `child failed: ${why}`);

    const results = kids.map((k) => k.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as ChargeLine));
    const accepted = new Map<number, TxReceipt>();
    for (const rs of results) {
      const own = rs.filter((r) => r.kind === 'own');
      assert.equal(own.length, 50);
      assert.ok(own.every((r) => r.receipt !== undefined), `a process's own transfers all commit: ${JSON.stringify(own.find((r) => r.error))}`);
      const charges = rs.filter((r) => r.kind === 'charge');
      assert.equal(charges.length, 600);
      for (const r of charges) {
        const i = r.i as number;
        if (r.receipt === undefined) {
          assert.equal(r.error, 'LEDGER_INSUFFICIENT_FUNDS', `charge ${i}`);
          continue;
        }
        const other = accepted.get(i);
        if (other !== undefined) assert.deepEqual(r.receipt, other, `charge ${i}: both processes report the one commit`);
        accepted.set(i, r.receipt);
      }
    }
    // Funds for 200: exactly the first 200 nonces were charged, once each, whichever process committed them.
    assert.deepEqual([...accepted.keys()].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i));
    assert.equal((await db.ledger.account(payer.addr))?.balance, 0n);
    assert.equal((await db.ledger.account(SYSTEM.escrow))?.balance, price * 200n);

    const report = await auditStore(db.store);
    const chain = await db.store.chainFrom(1, 100_000);
    assert.equal(chain.length, report.height);
    const authors = new Set(chain.map((e) => Buffer.from(e.block.header.author).toString('hex')));
    assert.ok(authors.size >= 3, 'the parent and both children authored blocks of the one chain');
    // Every charge's receipt names the block that really holds it.
    const domain = ledgerDomain(PARAMS.chainId);
    for (const r of accepted.values()) {
      const entry = chain[r.block - 1];
      assert.equal(entry?.block.header.index, r.block);
      const tx = decodeBatch(entry.payload)[r.index];
      assert.ok(tx !== undefined && toHex0x(txDigest({ ...tx, domain })) === r.txId);
    }
    // A process's own block store catches chain C up from PostgreSQL through normal block verification,
    // and the embedded ledger replaying it reaches the same balances.
    const { dir, cleanup } = tempDir('blyan-ledger-mirror-');
    try {
      const { store: blocks } = BlockStore.init(dir, TINY);
      try {
        assert.equal(await importChain(db.store, blocks), report.height);
        assert.equal(await importChain(db.store, blocks), 0);
        const local = Ledger.open(blocks);
        for (const a of [payer.addr, SYSTEM.escrow, user('sink').addr, user('spender-a').addr]) {
          assert.equal(accountToJson(local.store.account(a) ?? { balance: -1n, nonce: 0n, stake: 0n, rewards: 0n }), accountToJson((await db.ledger.account(a)) ?? { balance: -2n, nonce: 0n, stake: 0n, rewards: 0n }));
        }
      } finally {
        await blocks.close();
      }
    } finally {
      cleanup();
    }
  } finally {
    await db.close();
  }
});

test('SIGKILL of a process mid-batch: the other keeps committing, the PostgreSQL ledger stays consistent', { timeout: 300_000 }, async () => {
  const db = await newLedgerDb('multi_kill');
  try {
    let seed = 4242;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const reported: { block: number; txId: `0x${string}` }[] = [];
    const collect = (c: ReturnType<typeof child>) =>
      c.onLine((l) => {
        const m = /^committed (\d+) (0x[0-9a-f]{64})$/.exec(l);
        if (m !== null) reported.push({ block: Number(m[1]), txId: m[2] as `0x${string}` });
      });
    const commits = (c: ReturnType<typeof child>) => c.lines.filter((l) => l.startsWith('committed')).length;
    for (let round = 0; round < 3; round++) {
      const a = child(['loop', db.url, `a${round}`]);
      const b = child(['loop', db.url, `b${round}`]);
      collect(a);
      collect(b);
      await Promise.all([waitFor(a, (ls) => ls.some((l) => l.startsWith('committed'))), waitFor(b, (ls) => ls.some((l) => l.startsWith('committed')))]);
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 100)));
      a.proc.kill('SIGKILL');
      assert.match(await a.exited, /^SIGKILL/);
      // The survivor is not stuck behind a lock the dead process held: it commits more batches.
      const seen = commits(b);
      await waitFor(b, () => commits(b) >= seen + 6);
      b.proc.kill('SIGKILL');
      await b.exited;
      const report = await auditStore(db.store);
      const chain = await db.store.chainFrom(0, 100_000);
      assert.equal(chain.length, report.height + 1, `round ${round}: chain C is C:0 … C:${report.height}`);
      for (const c of reported) {
        const entry = chain[c.block];
        assert.ok(entry !== undefined, `round ${round}: block C:${c.block} of a reported tx is missing`);
        const ids = decodeBatch(entry.payload).map((tx) => toHex0x(txDigest(tx)));
        assert.ok(ids.includes(c.txId), `round ${round}: reported tx ${c.txId} is in C:${c.block}`);
      }
    }
    assert.ok(reported.length >= 6, 'children committed transactions before being killed');
  } finally {
    await db.close();
  }
});
