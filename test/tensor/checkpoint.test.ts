import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type BlyanErrorCode, isBlyanError } from '../../src/errors.ts';
import { INDEX_FILE, openCheckpoint, openSafetensors, type SafetensorsInput, writeSafetensors } from '../../src/tensor/safetensors.ts';
import { GOLDEN, tempDir } from './helpers.ts';

const tmp = tempDir();
after(tmp.cleanup);
let dirCount = 0;
const newDir = () => {
  const d = join(tmp.dir, `ckpt${dirCount++}`);
  mkdirSync(d);
  return d;
};

/** All tensors of a golden file, in file order. */
function goldenTensors(path: string): SafetensorsInput[] {
  const f = openSafetensors(path);
  try {
    return [...f.tensors].map(([name, info]) => ({ name, dtype: info.dtype, shape: info.shape, data: f.read(name) }));
  } finally {
    f.close();
  }
}

const shardName = (i: number, n: number) => `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;

/** Splits tensors round-robin into n shards (as transformers' save_pretrained would, by size) with an index. */
function writeSharded(dir: string, tensors: SafetensorsInput[], n: number, edit?: (weightMap: Record<string, string>) => void): void {
  const weightMap: Record<string, string> = {};
  const shards: SafetensorsInput[][] = Array.from({ length: n }, () => []);
  tensors.forEach((t, i) => {
    (shards[i % n] as SafetensorsInput[]).push(t);
    weightMap[t.name] = shardName(i % n, n);
  });
  shards.forEach((s, i) => {
    writeSafetensors(join(dir, shardName(i, n)), s, { format: 'pt' });
  });
  edit?.(weightMap);
  const totalSize = tensors.reduce((a, t) => a + t.data.byteLength, 0);
  writeFileSync(join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2));
}

function expectError(dir: string, code: BlyanErrorCode, check?: string): void {
  assert.throws(
    () => openCheckpoint(dir),
    (e: unknown) => {
      assert.ok(isBlyanError(e), `expected a BlyanError, got ${String(e)}`);
      assert.equal(e.code, code, e.message);
      if (check !== undefined) assert.equal(e.data.check, check, e.message);
      return true;
    },
  );
}

for (const golden of GOLDEN) {
  test(`3-shard split of ${golden.split('/').at(-2)} reads back equal to the single file`, () => {
    const tensors = goldenTensors(golden);
    const dir = newDir();
    writeSharded(dir, tensors, 3);
    const ckpt = openCheckpoint(dir);
    try {
      assert.equal(ckpt.files.length, 3);
      assert.equal(ckpt.tensors.size, tensors.length);
      assert.deepEqual(ckpt.metadata, { format: 'pt' });
      assert.deepEqual(ckpt.indexMetadata, { total_size: tensors.reduce((a, t) => a + t.data.byteLength, 0) });
      for (const t of tensors) {
        const info = ckpt.tensors.get(t.name);
        assert.ok(info, t.name);
        assert.equal(info.dtype, t.dtype);
        assert.deepEqual([...info.shape], [...t.shape]);
        assert.match(info.file, /^model-0000[123]-of-00003\.safetensors$/);
        assert.deepEqual(ckpt.read(t.name), t.data, t.name);
      }
      assert.throws(() => ckpt.read('nope'), (e: unknown) => isBlyanError(e, 'TENSOR_NOT_FOUND'));
    } finally {
      ckpt.close();
    }
  });
}

test('single-file checkpoint; model.safetensors wins over an index, as in transformers', () => {
  const dir = newDir();
  copyFileSync(GOLDEN[1], join(dir, 'model.safetensors'));
  writeFileSync(join(dir, INDEX_FILE), '{"weight_map": {"x": "missing.safetensors"}}');
  const ckpt = openCheckpoint(dir);
  assert.equal(ckpt.files.length, 1);
  assert.equal(ckpt.indexMetadata, null);
  assert.deepEqual(ckpt.metadata, { format: 'pt' });
  assert.equal(ckpt.tensors.get('lm_head.weight')?.file, 'model.safetensors');
  assert.equal(ckpt.read('lm_head.weight').byteLength, 320 * 64 * 2);
  ckpt.close();
});

test('sharded checkpoint errors', () => {
  const tensors = goldenTensors(GOLDEN[0]).slice(0, 6);
  expectError(newDir(), 'CHECKPOINT_MALFORMED', 'noWeights');

  for (const bad of ['../escape.safetensors', '/etc/passwd', 'sub/x.safetensors', 'a\\b.safetensors', '..', '', 7]) {
    const dir = newDir();
    writeSharded(dir, tensors, 2, (wm) => {
      (wm as Record<string, unknown>)[tensors[0]?.name as string] = bad;
    });
    expectError(dir, 'CHECKPOINT_MALFORMED', 'shardName');
  }

  const outside = newDir();
  writeSafetensors(join(outside, 'evil.safetensors'), tensors.slice(0, 1));
  const linked = newDir();
  writeSharded(linked, tensors, 2, (wm) => {
    wm[tensors[0]?.name as string] = 'link.safetensors';
  });
  symlinkSync(join(outside, 'evil.safetensors'), join(linked, 'link.safetensors'));
  expectError(linked, 'CHECKPOINT_MALFORMED', 'shardName');

  const missingShard = newDir();
  writeSharded(missingShard, tensors, 2, (wm) => {
    wm[tensors[0]?.name as string] = 'model-00009-of-00009.safetensors';
  });
  expectError(missingShard, 'CHECKPOINT_MALFORMED', 'shardMissing');

  const missingTensor = newDir();
  writeSharded(missingTensor, tensors, 2, (wm) => {
    wm['model.not.there'] = shardName(0, 2);
  });
  expectError(missingTensor, 'CHECKPOINT_MISSING_TENSOR');

  const wrongShard = newDir();
  writeSharded(wrongShard, tensors, 2, (wm) => {
    wm[tensors[0]?.name as string] = shardName(1, 2); // it is in shard 1 (index 0)
  });
  expectError(wrongShard, 'CHECKPOINT_MALFORMED', 'unmapped');

  const twice = newDir();
  writeSharded(twice, tensors, 2);
  writeSafetensors(join(twice, shardName(1, 2)), [...tensors.filter((_, i) => i % 2 === 1), tensors[0] as SafetensorsInput], { format: 'pt' });
  expectError(twice, 'CHECKPOINT_MALFORMED', 'unmapped');

  const unmapped = newDir();
  writeSharded(unmapped, tensors, 2, (wm) => {
    delete wm[tensors[0]?.name as string];
  });
  expectError(unmapped, 'CHECKPOINT_MALFORMED', 'unmapped');

  const indexCases: [string, string][] = [
    ['not JSON', '{"weight_map": '],
    ['not an object', '[]'],
    ['no weight_map', '{"metadata": {}}'],
    ['empty weight_map', '{"weight_map": {}}'],
    ['unknown key', `{"weight_map": {"a": "${shardName(0, 2)}"}, "extra": 1}`],
    ['duplicate tensor key', `{"weight_map": {"a": "${shardName(0, 2)}", "a": "${shardName(1, 2)}"}}`],
    ['metadata not an object', `{"weight_map": {"a": "${shardName(0, 2)}"}, "metadata": 3}`],
  ];
  for (const [what, text] of indexCases) {
    const dir = newDir();
    writeFileSync(join(dir, INDEX_FILE), text);
    assert.throws(() => openCheckpoint(dir), (e: unknown) => isBlyanError(e, 'CHECKPOINT_MALFORMED') && e.data.check === 'indexJson', what);
  }

  // A malformed shard surfaces as the shard's own error.
  const badShard = newDir();
  writeSharded(badShard, tensors, 2);
  writeFileSync(join(badShard, shardName(1, 2)), Uint8Array.of(1, 2, 3));
  expectError(badShard, 'SAFETENSORS_MALFORMED', 'truncated');
});
