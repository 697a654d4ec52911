import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fromHex } from '../../src/chain/hash.ts';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { verifyStore } from '../../src/chain/verifyStore.ts';
import { tempDir } from '../helpers/fixtures.ts';

const ROUNDS = 50;

/** Runs the child until it has committed at least one block, then kills it after a random extra delay. */
function runAndKill(dir: string, delayMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/chain/crashChild.ts', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const committed: string[] = [];
    let buf = '';
    let stderr = '';
    let armed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith('committed ')) committed.push(line.slice(10));
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

test('store survives SIGKILL at random moments: every reported block present, verify passes', { timeout: 600_000 }, async () => {
  const { dir, cleanup } = tempDir('blyan-crash-');
  try {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const allCommitted: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const committed = await runAndKill(dir, Math.floor(rand() * 150));
      allCommitted.push(...committed);
      const store = BlockStore.open(dir, TINY);
      try {
        const report = verifyStore(store);
        assert.ok(report.blocks >= 4, 'genesis and model present');
        for (const id of allCommitted) assert.ok(store.has(fromHex(id, 32)), `round ${round}: committed block ${id} is missing`);
      } finally {
        await store.close();
      }
    }
    assert.ok(allCommitted.length >= ROUNDS, 'children committed blocks before being killed');
  } finally {
    cleanup();
  }
});
