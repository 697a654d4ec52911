import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { auditLedger } from '../../src/ledger/audit.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { user } from './helpers.ts';

const ROUNDS = 6;

/** Runs the child until it has committed something, then kills it after a random extra delay. */
function runAndKill(dir: string, delayMs: number): Promise<{ block: number; txId: string }[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/ledger/crashChild.ts', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const committed: { block: number; txId: string }[] = [];
    let buf = '';
    let stderr = '';
    let armed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^committed (\d+) (0x[0-9a-f]{64})$/.exec(line);
        if (m !== null) committed.push({ block: Number(m[1]), txId: m[2] as string });
      }
      if (!armed && committed.length > 0) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(committed);
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

test('ledger survives SIGKILL mid-batch: every reported tx is on chain and the audit passes', { timeout: 300_000 }, async () => {
  const { dir, cleanup } = tempDir('blyan-ledger-crash-');
  try {
    let seed = 777;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let total = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const committed = await runAndKill(dir, Math.floor(rand() * 120));
      total += committed.length;
      const store = BlockStore.open(dir, TINY);
      try {
        const ledger = Ledger.open(store, { producerKey: user('producer').key });
        const report = await auditLedger(store, ledger.store);
        assert.equal(ledger.store.height(), store.height('C') - 1, 'state is at the chain head');
        for (const c of committed) assert.ok(c.block <= report.height, `round ${round}: block C:${c.block} of a reported tx is missing`);
      } finally {
        await store.close();
      }
    }
    assert.ok(total >= ROUNDS, 'children committed transactions before being killed');
  } finally {
    cleanup();
  }
});
