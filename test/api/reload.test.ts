/**
 * A running node serves the current weights: when a component gets a new version while the node runs
 * (here a snapshot block appended to its store, as an accepted delta, a snapshot or a rollback would be),
 * the next answer uses it, and equals what a freshly started node answers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBlock } from '../../src/chain/block.ts';
import { resolveModel } from '../../src/engine/modelRegistry.ts';
import { encodeComponent, Lineage } from '../../src/learning/lineage.ts';
import { TEST_KEY } from '../helpers/fixtures.ts';
import { startNode, tinyDataDir } from './fixture.ts';

async function chat(url: string): Promise<string> {
  const r = await fetch(`${url}/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'To be', maxTokens: 24, temperature: 0 }) });
  assert.equal(r.status, 200);
  return ((await r.json()) as { text: string }).text;
}

test('a new version of a component is served by the running node, as a fresh node serves it', async () => {
  const d = tinyDataDir();
  try {
    let node = await startNode(d.data);
    let after: string;
    try {
      const before = await chat(node.url);
      // Every expert of layer 0 scaled ×300: a version that changes the answer.
      const store = node.store;
      const model = resolveModel(store);
      const lineage = new Lineage(store);
      for (const c of model.meta.layout.filter((x) => x.type === 'expert' && x.layer === 0)) {
        const current = store.currentVersion(model.id, c.name) as Uint8Array;
        const mats = lineage.materialize(current).map((m) => ({ ...m, values: m.values.map((v) => v * 300) }));
        const payload = encodeComponent(mats);
        const index = (store.header(current)?.index ?? 0) + 1;
        const block = createBlock({ chain: 'B', index, prev: null, deps: [model.id, current], type: 'snapshot', expert: c.name, layer: 0, time: Date.now() }, payload, TEST_KEY, store.preset);
        store.append(block, payload);
      }
      after = await chat(node.url);
      assert.notEqual(after, before, 'the answer reflects the new versions');
    } finally {
      await node.stop();
    }
    node = await startNode(d.data);
    try {
      assert.equal(await chat(node.url), after, 'a freshly started node gives the same answer');
    } finally {
      await node.stop();
    }
  } finally {
    d.cleanup();
  }
});
