import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dagCbor from '@ipld/dag-cbor';
import { createBlock } from '../../src/chain/block.ts';
import type { Hash } from '../../src/chain/hash.ts';
import { sha256 } from '../../src/chain/hash.ts';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import type { Block } from '../../src/chain/types.ts';
import type { RewardRecord } from '../../src/learning/rewardRecords.ts';

/** A fixed, publicly known test key (never use outside tests). */
export const TEST_KEY = sha256(new TextEncoder().encode('blyan test key 1'));
export const TEST_KEY_2 = sha256(new TextEncoder().encode('blyan test key 2'));

export function tempDir(prefix = 'blyan-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function freshStore(): { store: BlockStore; dir: string; cleanup: () => Promise<void> } {
  const { dir, cleanup } = tempDir();
  const { store } = BlockStore.init(dir, TINY);
  return {
    store,
    dir,
    cleanup: async () => {
      await store.close();
      cleanup();
    },
  };
}

export function deterministicBytes(seed: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let block = sha256(new TextEncoder().encode(seed));
  for (let off = 0; off < size; off += 32) {
    out.set(block.subarray(0, Math.min(32, size - off)), off);
    block = sha256(block);
  }
  return out;
}

/** Appends a model meta block on chain A (after whatever A holds) and returns it. */
export function addModel(store: BlockStore, name = 'test-model', key = TEST_KEY): { block: Block; payload: Uint8Array } {
  const head = store.headOf('A');
  if (head === undefined) throw new Error('store has no genesis');
  const payload = dagCbor.encode({ family: 'test', name, layers: 2, experts: 4 });
  const block = createBlock(
    { chain: 'A', index: head.header.index + 1, prev: head.id, deps: [], type: 'model', time: head.header.time + 1 },
    payload,
    key,
    TINY,
  );
  store.append(block, payload);
  return { block, payload };
}

export function expertBlock(
  model: Hash,
  layer: number,
  expert: number,
  payload: Uint8Array,
  opts: { base?: Block; type?: 'expert' | 'delta' | 'snapshot'; key?: Uint8Array; time?: number } = {},
): Block {
  const deps = [model];
  if (opts.base !== undefined) deps.push(opts.base.id);
  return createBlock(
    {
      chain: 'B',
      index: opts.base === undefined ? 0 : opts.base.header.index + 1,
      prev: null,
      deps,
      type: opts.type ?? 'expert',
      expert: `layer${layer}.expert${expert}`,
      layer,
      time: opts.time ?? TINY.genesisTime + 1000,
    },
    payload,
    opts.key ?? TEST_KEY,
    TINY,
  );
}

/**
 * A learning reward record of `miner` for an accepted delta `block` that improved the validation loss by
 * `improvement` from a base loss of 2 (the float bits are placeholders: the ledger pays from the numbers).
 */
export function rewardRecord(miner: string, block: string, improvement: number): RewardRecord {
  return {
    miner,
    model: 'aa'.repeat(32),
    component: 'layer0.expert1',
    block,
    improvement,
    improvementBits: '00000000',
    baseLoss: 2,
    baseLossBits: '00000000',
    newLoss: 2 - improvement,
    newLossBits: '00000000',
    time: TINY.genesisTime,
  };
}
