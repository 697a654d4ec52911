import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TINY } from '../../src/chain/presets.ts';
import { payRewardsAction, withLedger } from '../../src/cli/actions/ledgerActions.ts';
import { initStore } from '../../src/cli/openStore.ts';
import { RewardRecords } from '../../src/learning/rewardRecords.ts';
import { fromLearningRecord } from '../../src/ledger/rewards.ts';
import { rewardRecord, tempDir } from '../helpers/fixtures.ts';
import { bly, user } from './helpers.ts';

test('reward records of the learning loop are paid once, by relative improvement', async () => {
  const { dir, cleanup } = tempDir('blyan-ledger-rewards-');
  try {
    const miner = user('miner');
    const record = (block: string, improvement: number) => rewardRecord(miner.addr, block, improvement);
    const { store } = initStore(dir, TINY);
    const db = store.sideDb('learning');
    const recs = new RewardRecords(store);
    db.transactionSync(() => {
      recs.putSync(record('01'.repeat(32), 0.04), new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)); // 2% → 20 BLY
      recs.putSync(record('02'.repeat(32), 0), new Uint8Array(32).fill(3), new Uint8Array(32).fill(4)); // earns nothing
    });
    await store.close();
    assert.equal(fromLearningRecord(record('01'.repeat(32), 0.04)).improvementPpm, 20_000n);

    const first = await payRewardsAction(dir);
    assert.deepEqual(first.map((r) => r.status), ['paid', 'refused']);
    assert.match(first[1]?.error ?? '', /^LEDGER_BAD_AMOUNT/);
    const second = await payRewardsAction(dir);
    assert.deepEqual(second.map((r) => r.status), ['already-paid', 'refused']);
    const balance = await withLedger(dir, undefined, async (l) => (await l.account(miner.addr))?.balance);
    assert.equal(balance, bly(20));
  } finally {
    cleanup();
  }
});
