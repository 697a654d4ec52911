/**
 * Exactness against Hugging Face transformers v4.45 (shared/golden, copied to test/fixtures/golden):
 * import each checkpoint through the CLI, then logits within 1e-4, identical expert choices and the
 * identical 20 greedy ids, with and without the KV cache; export round trip; idempotent import;
 * a tampered expert payload caught by `chain verify`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { open } from 'lmdb';
import { blyan, blyanJson } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';

interface Golden {
  sequences: { input_ids: number[]; logits: number[][]; expert_choices: number[][][] }[];
  greedy: { prompt_ids: number[]; generated_ids: number[]; expert_choices_full_sequence: number[][][] };
}

const FIXTURES = resolve(import.meta.dirname, '../fixtures/golden');
const ENV = { BLYAN_PASSPHRASE: 'golden-test-passphrase' };

function setup(): { dir: string; cleanup: () => void } {
  const t = tempDir('blyan-golden-');
  blyanJson(['init', '--preset', 'tiny', '--data', t.dir]);
  const w = blyan(['wallet', 'new', '--light-kdf', '--data', t.dir], ENV);
  assert.equal(w.code, 0, w.stderr);
  return t;
}

function maxAbsDiff(a: number[][], b: number[][]): number {
  let m = 0;
  for (const [i, row] of a.entries()) for (const [j, v] of row.entries()) m = Math.max(m, Math.abs(v - (b[i]?.[j] ?? Number.NaN)));
  return m;
}

for (const name of ['mixtral', 'mixtral_bf16']) {
  const ckpt = join(FIXTURES, name);
  const golden = JSON.parse(readFileSync(join(ckpt, 'golden.json'), 'utf8')) as Golden;

  test(`${name}: logits, experts and greedy ids match Hugging Face; export is bit-identical`, { timeout: 300_000 }, async () => {
    const { dir, cleanup } = setup();
    try {
      const imported = blyanJson<{ model: string; written: number; blocks: { expert: number } }>(['import', ckpt, '--data', dir], ENV);
      assert.equal(imported.blocks.expert, golden.greedy.expert_choices_full_sequence.length * 8);
      assert.ok(imported.written > 0);

      for (const seq of golden.sequences) {
        const r = blyanJson<{ model: string; logits: number[][]; experts: number[][][] }>(['model', 'forward', '--ids', seq.input_ids.join(','), '--data', dir]);
        assert.equal(r.model, imported.model);
        assert.equal(r.logits.length, seq.input_ids.length);
        const diff = maxAbsDiff(r.logits, seq.logits);
        assert.ok(diff <= 1e-4, `${seq.input_ids.length} tokens: max |Δlogit| = ${diff}`);
        assert.deepEqual(r.experts, seq.expert_choices);
      }

      const prompt = golden.greedy.prompt_ids.join(',');
      for (const cacheFlag of [[], ['--no-cache']]) {
        const g = blyanJson<{ ids: number[]; experts: number[][][] }>(['model', 'generate', '--ids', prompt, '--max-new-tokens', '20', '--greedy', ...cacheFlag, '--data', dir]);
        assert.deepEqual(g.ids, golden.greedy.generated_ids, `greedy ids ${cacheFlag.join(' ')}`);
        assert.deepEqual(g.experts, golden.greedy.expert_choices_full_sequence, `experts ${cacheFlag.join(' ')}`);
      }

      // Re-import: nothing new, same hashes.
      const again = blyanJson<{ model: string; written: number }>(['import', ckpt, '--data', dir], ENV);
      assert.equal(again.model, imported.model);
      assert.equal(again.written, 0);

      // Export: the same config.json and bit-identical tensors (the whole file, as HF writes it).
      const out = join(dir, 'export');
      blyanJson(['model', 'export', out, '--data', dir]);
      assert.deepEqual(readFileSync(join(out, 'config.json')), readFileSync(join(ckpt, 'config.json')));
      assert.ok(readFileSync(join(out, 'model.safetensors')).equals(readFileSync(join(ckpt, 'model.safetensors'))), 'model.safetensors is byte-identical');

      // A mutated expert payload is caught by chain verify, which names the block.
      const list = blyanJson<{ id: string; expert: string | null; payloadHash: string }[]>(['chain', 'list', '--chain', 'B', '--data', dir]);
      const victim = list.find((b) => b.expert === 'layer1.expert5');
      assert.ok(victim !== undefined);
      const env = open({ path: join(dir, 'chain'), maxDbs: 8 });
      const payloads = env.openDB({ name: 'payloads', encoding: 'binary', keyEncoding: 'binary' });
      const key = Buffer.from(victim.payloadHash, 'hex');
      const bytes = Buffer.from(payloads.getBinary(key) as Buffer);
      bytes[bytes.length - 7] = (bytes[bytes.length - 7] as number) ^ 0x10;
      payloads.putSync(key, bytes);
      await env.close();
      const verify = blyan(['chain', 'verify', '--data', dir]);
      assert.equal(verify.code, 1);
      assert.match(verify.stderr, /BLOCK_BAD_PAYLOAD/);
      assert.ok(verify.stderr.includes(victim.id), 'the error names the tampered block');
    } finally {
      cleanup();
    }
  });
}
