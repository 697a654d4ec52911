import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { blyan } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';

test('blyan train --json: the contract shape on a tiny run; --out writes a checkpoint; bad flags are refused', () => {
  const t = tempDir('blyan-train-cli-');
  try {
    const text = join(t.dir, 'small.txt');
    writeFileSync(text, 'First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n'.repeat(24));
    const out = join(t.dir, 'ckpt');
    const args = ['train', '--recipe', 'char-moe', '--steps', '2', '--eval-at', '0,2', '--seed', '3', '--text', text, '--batch', '2', '--eval-batches', '1'];
    const r = blyan([...args, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { evals: { step: number; valLoss: number }[]; tokensPerSecond: number; params: number };
    assert.deepEqual(Object.keys(j).sort(), ['evals', 'params', 'tokensPerSecond']);
    assert.deepEqual(j.evals.map((e) => e.step), [0, 2]);
    for (const e of j.evals) assert.ok(Number.isFinite(e.valLoss) && e.valLoss > 0);
    assert.ok(j.tokensPerSecond > 0);
    const vocab = new Set(readFileSync(text, 'utf8')).size;
    // 4 layers × (attention 4·128² + norms 2·128 + router 8·128 + 8 experts × 3·256·128) + embed + lm_head + final norm
    assert.equal(j.params, 4 * (4 * 128 * 128 + 2 * 128 + 8 * 128 + 8 * 3 * 256 * 128) + 2 * vocab * 128 + 128);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) assert.ok(existsSync(join(out, f)), f);

    // same seed, same result
    const again = blyan([...args, '--json']);
    assert.deepEqual((JSON.parse(again.stdout) as typeof j).evals, j.evals);

    const bad = blyan(['train', '--recipe', 'nope', '--steps', '2', '--text', text, '--json']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /BAD_ARGUMENT/);
  } finally {
    t.cleanup();
  }
});
