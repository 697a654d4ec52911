/**
 * Qwen2-MoE and OLMoE have no Hugging Face golden files, so the engine is checked against an independent
 * float64 reference (test/helpers/moeReference.ts) that is itself first checked against the Mixtral
 * golden outputs of transformers v4.45. Synthetic checkpoints (test/helpers/synthCheckpoint.ts) go
 * through the real CLI: `blyan import`, `model forward --json`, `model generate --greedy` with and
 * without the KV cache. Expected: logits within 1e-4, identical expert choices, identical greedy ids.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { blyan, blyanJson } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/fixtures.ts';
import { loadReferenceModel, type RefForward, type RefGreedy, referenceForward, referenceGreedy, readSafetensorsF64 } from '../../helpers/moeReference.ts';
import { pyJsonDumps, type SynthFamily, type SynthOptions, synthConfig, synthTensors, writeSynthCheckpoint } from '../../helpers/synthCheckpoint.ts';

const GOLDEN = resolve(import.meta.dirname, '../../fixtures/golden');
const ENV = { BLYAN_PASSPHRASE: 'families-test-passphrase' };
const TOL = 1e-4;
/** A routing decision closer than this (in probability) could flip between f32 and f64: choose another seed. */
const MIN_ROUTING_MARGIN = 1e-4;
/** A greedy step whose top two logits are closer than this could flip: choose another seed. */
const MIN_ARGMAX_MARGIN = 1e-3;
const LENGTHS = [1, 5, 17];
const MAX_NEW = 8;

interface Golden {
  sequences: { input_ids: number[]; logits: number[][]; expert_choices: number[][][] }[];
  greedy: { prompt_ids: number[]; generated_ids: number[]; expert_choices_full_sequence: number[][][] };
}

function maxAbsDiff(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): number {
  assert.equal(a.length, b.length, 'row count');
  let m = 0;
  for (const [i, row] of a.entries()) {
    const other = b[i] as readonly number[];
    assert.equal(row.length, other.length, `row ${i} length`);
    for (const [j, v] of row.entries()) m = Math.max(m, Math.abs(v - (other[j] as number)));
  }
  return m;
}

// ---------------------------------------------------------------------------------------------------
// 1. The reference and the synthetic writer against what Hugging Face itself produced.

for (const name of ['mixtral', 'mixtral_bf16']) {
  test(`reference forward pass reproduces Hugging Face golden outputs (${name})`, () => {
    const dir = join(GOLDEN, name);
    const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as Golden;
    const model = loadReferenceModel(dir);
    for (const seq of golden.sequences) {
      const r = referenceForward(model, seq.input_ids);
      const diff = maxAbsDiff(r.logits, seq.logits);
      assert.ok(diff <= TOL, `${seq.input_ids.length} tokens: max |Δlogit| = ${diff}`);
      assert.deepEqual(r.experts, seq.expert_choices, `${seq.input_ids.length} tokens: expert choices`);
    }
    const g = referenceGreedy(model, golden.greedy.prompt_ids, golden.greedy.generated_ids.length);
    assert.deepEqual(g.ids, golden.greedy.generated_ids);
    assert.deepEqual(g.experts, golden.greedy.expert_choices_full_sequence);
  });
}

test('synthetic Mixtral checkpoint: config.json byte-identical to transformers, same tensor names and shapes as the golden checkpoint', () => {
  for (const [name, dtype, layers] of [
    ['mixtral', 'f32', 2],
    ['mixtral_bf16', 'bf16', 3],
  ] as const) {
    const opts: SynthOptions = { seed: 1, dtype, layers, hidden: 64, heads: 4, kvHeads: 2, experts: 8, topK: 2, intermediate: 128, vocab: 320, ropeTheta: 1e6, eps: 1e-5 };
    assert.equal(`${pyJsonDumps(synthConfig('mixtral', opts))}\n`, readFileSync(join(GOLDEN, name, 'config.json'), 'utf8'));
    const golden = readSafetensorsF64(join(GOLDEN, name, 'model.safetensors'));
    const synth = synthTensors('mixtral', opts);
    assert.deepEqual(new Map(synth.map((t) => [t.name, t.shape])), new Map([...golden].map(([n, t]) => [n, t.shape])));
  }
});

// ---------------------------------------------------------------------------------------------------
// 2. Qwen2-MoE and OLMoE through the CLI against the reference.

interface Variant {
  label: string;
  family: SynthFamily;
  opts: Omit<SynthOptions, 'seed'>;
  baseSeed: number;
}

const QWEN = {
  layers: 3,
  hidden: 48,
  heads: 4,
  kvHeads: 2,
  experts: 8,
  topK: 2,
  intermediate: 32,
  sharedIntermediate: 40,
  denseIntermediate: 72,
  decoderSparseStep: 1,
  mlpOnlyLayers: [1],
  vocab: 211,
  ropeTheta: 10000,
  eps: 1e-6,
};
const OLMOE = { layers: 2, hidden: 64, heads: 4, kvHeads: 4, experts: 8, topK: 3, intermediate: 32, vocab: 173, ropeTheta: 10000, eps: 1e-5, normTopkProb: false };

const VARIANTS: Variant[] = [];
for (const dtype of ['f32', 'bf16'] as const) {
  for (const normTopkProb of [false, true]) {
    VARIANTS.push({ label: `qwen2moe-${dtype}-norm${normTopkProb}`, family: 'qwen2moe', opts: { ...QWEN, dtype, normTopkProb }, baseSeed: 100 });
  }
  for (const clipQkv of [null, 0.9]) {
    VARIANTS.push({ label: `olmoe-${dtype}-clip${clipQkv ?? 'none'}`, family: 'olmoe', opts: { ...OLMOE, dtype, clipQkv }, baseSeed: 200 });
  }
}
// Beyond the minimum: Qwen2-MoE on the decoder_sparse_step grid (layers 0 and 2 dense) with tied
// embeddings, and OLMoE with renormalised top-k.
VARIANTS.push({
  label: 'qwen2moe-f32-step2-tied',
  family: 'qwen2moe',
  opts: { ...QWEN, dtype: 'f32', decoderSparseStep: 2, mlpOnlyLayers: [], tieWordEmbeddings: true },
  baseSeed: 300,
});
VARIANTS.push({ label: 'olmoe-f32-norm-clip', family: 'olmoe', opts: { ...OLMOE, dtype: 'f32', normTopkProb: true, clipQkv: 1.2 }, baseSeed: 400 });

/** Deterministic ids in [0, vocab). */
function idsFor(seed: number, n: number, vocab: number): number[] {
  let x = (seed * 2654435761) >>> 0 || 1;
  return Array.from({ length: n }, () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % vocab;
  });
}

interface Prepared {
  dir: string;
  seed: number;
  sequences: { ids: number[]; ref: RefForward }[];
  prompt: number[];
  greedy: RefGreedy;
}

/**
 * Writes the variant's checkpoint with the first seed (from baseSeed on) whose routing decisions and greedy
 * steps all have comfortable margins in the reference, so f32-vs-f64 rounding cannot flip them.
 */
function prepare(root: string, v: Variant): Prepared {
  for (let seed = v.baseSeed; seed < v.baseSeed + 40; seed++) {
    const dir = join(root, `${v.label}-${seed}`);
    writeSynthCheckpoint(dir, v.family, { ...v.opts, seed });
    const model = loadReferenceModel(dir);
    const sequences = LENGTHS.map((n) => {
      const ids = idsFor(seed * 31 + n, n, v.opts.vocab);
      return { ids, ref: referenceForward(model, ids) };
    });
    const prompt = idsFor(seed * 31 + 1000, 4, v.opts.vocab);
    const greedy = referenceGreedy(model, prompt, MAX_NEW);
    const routing = Math.min(greedy.routingMargin, ...sequences.map((s) => s.ref.routingMargin));
    if (routing >= MIN_ROUTING_MARGIN && greedy.argmaxMargin >= MIN_ARGMAX_MARGIN) return { dir, seed, sequences, prompt, greedy };
  }
  throw new Error(`${v.label}: no seed with non-degenerate margins`);
}

describe('Qwen2-MoE and OLMoE: engine (via the CLI) equals the float64 reference', { timeout: 240_000 }, () => {
  let data: { dir: string; cleanup: () => void };
  before(() => {
    data = tempDir('blyan-families-');
    blyanJson(['init', '--preset', 'tiny', '--data', data.dir]);
    const w = blyan(['wallet', 'new', '--light-kdf', '--data', data.dir], ENV);
    assert.equal(w.code, 0, w.stderr);
  });
  after(() => data.cleanup());

  for (const v of VARIANTS) {
    test(v.label, { timeout: 60_000 }, (t) => {
      const p = prepare(join(data.dir, 'checkpoints'), v);
      const ctx = `${v.label} (seed ${p.seed})`;
      const o = v.opts;
      // The reference's view of the layer types, so the comparisons below cover what they mean to.
      const sparse = Array.from({ length: o.layers }, (_, l) => v.family === 'olmoe' || (!(o.mlpOnlyLayers ?? []).includes(l) && (l + 1) % (o.decoderSparseStep ?? 1) === 0));
      assert.deepEqual(
        p.sequences[2]?.ref.experts.map((layer) => layer.length),
        sparse.map((s) => (s ? 17 : 0)),
      );
      if (v.family === 'olmoe' && o.clipQkv !== null && o.clipQkv !== undefined) assert.ok((p.sequences[2]?.ref.clipped ?? 0) > 0, `${ctx}: clip_qkv must bite`);

      const imported = blyanJson<{ model: string; family: string; architecture: string; blocks: { meta: number; base: number; router: number; expert: number } }>(
        ['import', p.dir, '--name', v.label, '--data', data.dir],
        ENV,
      );
      const nSparse = sparse.filter(Boolean).length;
      const shared = v.family === 'qwen2moe' ? 1 : 0;
      assert.equal(imported.family, v.family);
      assert.deepEqual(imported.blocks, {
        meta: 1,
        base: 2 + o.layers + (o.layers - nSparse), // embed, head, attention per layer, dense MLPs
        router: nSparse,
        expert: nSparse * (o.experts + shared),
      });

      let worst = 0;
      for (const s of p.sequences) {
        const r = blyanJson<{ model: string; logits: number[][]; experts: number[][][] }>(['model', 'forward', '--ids', s.ids.join(','), '--model', v.label, '--data', data.dir]);
        assert.equal(r.model, imported.model);
        const diff = maxAbsDiff(r.logits, s.ref.logits);
        assert.ok(diff <= TOL, `${ctx}, ${s.ids.length} tokens: max |Δlogit| = ${diff}`);
        assert.deepEqual(r.experts, s.ref.experts, `${ctx}, ${s.ids.length} tokens: expert choices`);
        worst = Math.max(worst, diff);
      }
      t.diagnostic(`seed ${p.seed}: max |Δlogit| ${worst.toExponential(2)}; greedy ${p.greedy.ids.join(',')}`);

      for (const cacheFlag of [[], ['--no-cache']]) {
        const g = blyanJson<{ ids: number[]; experts: number[][][] }>([
          'model',
          'generate',
          '--ids',
          p.prompt.join(','),
          '--greedy',
          '--max-new-tokens',
          String(MAX_NEW),
          ...cacheFlag,
          '--model',
          v.label,
          '--data',
          data.dir,
        ]);
        assert.deepEqual(g.ids, p.greedy.ids, `${ctx}: greedy ids ${cacheFlag.join(' ')}`);
        assert.deepEqual(g.experts, p.greedy.experts, `${ctx}: experts of the full sequence ${cacheFlag.join(' ')}`);
      }
    });
  }
});
