/**
 * Bad checkpoints through `blyan import`: each one exits 1 with `error [CODE]` on stderr and leaves the
 * chain exactly as it was (import validates everything before it writes a block). Then bad input to
 * `model forward` / `model generate`: ids outside the vocabulary and prompts longer than the context.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type SafetensorsInput, writeSafetensors } from '../../../src/tensor/safetensors.ts';
import { blyan, blyanJson } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/fixtures.ts';
import { type SynthFamily, type SynthOptions, toSafetensorsInput, synthTensors, writeSynthCheckpoint } from '../../helpers/synthCheckpoint.ts';

const ENV = { BLYAN_PASSPHRASE: 'import-errors-passphrase' };
const VOCAB = 101;
const CONTEXT = 16;
const BASE: SynthOptions = {
  seed: 7,
  dtype: 'f32',
  layers: 2,
  hidden: 32,
  heads: 4,
  kvHeads: 2,
  experts: 4,
  topK: 2,
  intermediate: 16,
  sharedIntermediate: 24,
  vocab: VOCAB,
  ropeTheta: 10000,
  eps: 1e-6,
  maxPositionEmbeddings: CONTEXT,
};

interface Mutation {
  config?: (c: Record<string, unknown>) => void;
  tensors?: (t: SafetensorsInput[]) => SafetensorsInput[];
  /** Runs last, on the written directory. */
  files?: (dir: string) => void;
}

let root: { dir: string; cleanup: () => void };
let data: string;
let n = 0;

/** A synthetic checkpoint of `family`, then broken by `m`. */
function checkpoint(family: SynthFamily, m: Mutation = {}): string {
  const dir = join(root.dir, `ckpt${n++}-${family}`);
  writeSynthCheckpoint(dir, family, BASE);
  if (m.config !== undefined) {
    const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    m.config(c);
    writeFileSync(join(dir, 'config.json'), `${JSON.stringify(c, null, 2)}\n`);
  }
  if (m.tensors !== undefined) writeSafetensors(join(dir, 'model.safetensors'), m.tensors(toSafetensorsInput(synthTensors(family, BASE), 'f32')), { format: 'pt' });
  m.files?.(dir);
  return dir;
}

const chainList = (): string => {
  const r = blyan(['chain', 'list', '--json', '--data', data]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
};

function expectError(args: string[], code: string, env: Record<string, string> = {}): string {
  const r = blyan([...args, '--data', data], env);
  assert.equal(r.code, 1, `exit code; stdout: ${r.stdout.slice(0, 200)}; stderr: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^error \\[${code}\\]: `, 'm'), r.stderr);
  return r.stderr;
}

const without = (name: string) => (ts: SafetensorsInput[]) => {
  assert.ok(
    ts.some((t) => t.name === name),
    `${name} is in the synthetic checkpoint`,
  );
  return ts.filter((t) => t.name !== name);
};

before(() => {
  root = tempDir('blyan-import-errors-');
  data = join(root.dir, 'data');
  blyanJson(['init', '--preset', 'tiny', '--data', data]);
  const w = blyan(['wallet', 'new', '--light-kdf', '--data', data], ENV);
  assert.equal(w.code, 0, w.stderr);
  // One good model (context 16) on chain first: "nothing written" is then checked against a
  // non-trivial chain, and the forward / generate checks below run on it.
  const ok = blyanJson<{ written: number }>(['import', checkpoint('qwen2moe'), '--name', 'good', '--data', data], ENV);
  assert.ok(ok.written > 0);
});
after(() => root.cleanup());

describe('blyan import refuses bad checkpoints and writes nothing', { timeout: 120_000 }, () => {
  let before_: string;
  before(() => {
    before_ = chainList();
  });

  const cases: { name: string; family: SynthFamily; m: Mutation; code: string; mentions?: string[] }[] = [
    {
      name: 'unknown architecture',
      family: 'mixtral',
      m: {
        config: (c) => {
          c.architectures = ['LlamaForCausalLM'];
        },
      },
      code: 'MODEL_UNSUPPORTED',
      mentions: ['LlamaForCausalLM', 'MixtralForCausalLM', 'Qwen2MoeForCausalLM', 'OlmoeForCausalLM'],
    },
    { name: 'config without architectures', family: 'olmoe', m: { config: (c) => void delete c.architectures }, code: 'MODEL_BAD_CONFIG' },
    // A key left out takes the transformers default (60 experts for Qwen2-MoE), which this checkpoint's tensors do not fit.
    { name: 'Qwen2-MoE config without num_experts (HF default 60)', family: 'qwen2moe', m: { config: (c) => void delete c.num_experts }, code: 'MODEL_SHAPE_MISMATCH', mentions: ['[60, 32]'] },
    { name: 'Mixtral config with num_local_experts 0', family: 'mixtral', m: { config: (c) => { c.num_local_experts = 0; } }, code: 'MODEL_BAD_CONFIG', mentions: ['num_local_experts'] },
    { name: 'OLMoE config with a non-numeric hidden_size', family: 'olmoe', m: { config: (c) => { c.hidden_size = 'wide'; } }, code: 'MODEL_BAD_CONFIG', mentions: ['hidden_size'] },
    { name: 'config.json that is not JSON', family: 'qwen2moe', m: { files: (d) => writeFileSync(join(d, 'config.json'), '{"architectures": [') }, code: 'MODEL_BAD_CONFIG' },
    { name: 'no config.json', family: 'qwen2moe', m: { files: (d) => rmSync(join(d, 'config.json')) }, code: 'MODEL_BAD_CONFIG' },
    {
      name: 'missing routed expert tensor',
      family: 'qwen2moe',
      m: { tensors: without('model.layers.1.mlp.experts.3.down_proj.weight') },
      code: 'MODEL_MISSING_TENSOR',
      mentions: ['model.layers.1.mlp.experts.3.down_proj.weight'],
    },
    {
      name: 'missing Qwen2-MoE k_proj bias',
      family: 'qwen2moe',
      m: { tensors: without('model.layers.0.self_attn.k_proj.bias') },
      code: 'MODEL_MISSING_TENSOR',
      mentions: ['model.layers.0.self_attn.k_proj.bias'],
    },
    {
      name: 'missing Qwen2-MoE shared_expert_gate',
      family: 'qwen2moe',
      m: { tensors: without('model.layers.1.mlp.shared_expert_gate.weight') },
      code: 'MODEL_MISSING_TENSOR',
      mentions: ['model.layers.1.mlp.shared_expert_gate.weight'],
    },
    {
      name: 'missing OLMoE q_norm',
      family: 'olmoe',
      m: { tensors: without('model.layers.0.self_attn.q_norm.weight') },
      code: 'MODEL_MISSING_TENSOR',
      mentions: ['model.layers.0.self_attn.q_norm.weight'],
    },
    {
      // k_norm spans the key projection (kv heads × head_dim = 16), not the hidden size (32).
      name: 'OLMoE k_norm of the wrong width',
      family: 'olmoe',
      m: {
        tensors: (ts) =>
          ts.map((t) => (t.name === 'model.layers.1.self_attn.k_norm.weight' ? { ...t, shape: [BASE.hidden], data: new Uint8Array(4 * BASE.hidden) } : t)),
      },
      code: 'MODEL_SHAPE_MISMATCH',
      mentions: ['model.layers.1.self_attn.k_norm.weight'],
    },
    {
      name: 'transposed expert matrix',
      family: 'mixtral',
      m: { tensors: (ts) => ts.map((t) => (t.name === 'model.layers.0.block_sparse_moe.experts.2.w1.weight' ? { ...t, shape: [BASE.hidden, BASE.intermediate] } : t)) },
      code: 'MODEL_SHAPE_MISMATCH',
      mentions: ['model.layers.0.block_sparse_moe.experts.2.w1.weight'],
    },
    {
      name: 'extra unknown tensor (an expert beyond num_experts)',
      family: 'qwen2moe',
      m: {
        tensors: (ts) => {
          const like = ts.find((t) => t.name === 'model.layers.0.mlp.experts.0.gate_proj.weight') as SafetensorsInput;
          return [...ts, { ...like, name: `model.layers.0.mlp.experts.${BASE.experts}.gate_proj.weight` }];
        },
      },
      code: 'MODEL_BAD_CONFIG',
      mentions: [`model.layers.0.mlp.experts.${BASE.experts}.gate_proj.weight`],
    },
    {
      name: 'truncated model.safetensors (data cut short)',
      family: 'olmoe',
      m: {
        files: (d) => {
          const f = join(d, 'model.safetensors');
          truncateSync(f, readFileSync(f).length - 100);
        },
      },
      code: 'SAFETENSORS_MALFORMED',
    },
    { name: 'truncated model.safetensors (inside the header)', family: 'olmoe', m: { files: (d) => truncateSync(join(d, 'model.safetensors'), 40) }, code: 'SAFETENSORS_MALFORMED' },
    { name: 'no model.safetensors', family: 'olmoe', m: { files: (d) => rmSync(join(d, 'model.safetensors')) }, code: 'CHECKPOINT_MALFORMED' },
    {
      // Same element size as F32, so only the dtype is wrong.
      name: 'unsupported dtype I32',
      family: 'qwen2moe',
      m: {
        files: (d) => {
          const f = join(d, 'model.safetensors');
          const bytes = readFileSync(f);
          const headerLen = Number(bytes.readBigUInt64LE(0));
          const header = bytes.subarray(8, 8 + headerLen).toString('utf8');
          const from = '"model.norm.weight":{"dtype":"F32"';
          assert.ok(header.includes(from));
          Buffer.from(header.replace(from, from.replace('F32', 'I32'))).copy(bytes, 8);
          writeFileSync(f, bytes);
        },
      },
      code: 'TENSOR_BAD_DTYPE',
      mentions: ['I32'],
    },
  ];

  for (const c of cases) {
    test(c.name, () => {
      const dir = checkpoint(c.family, c.m);
      const stderr = expectError(['import', dir], c.code, ENV);
      for (const word of c.mentions ?? []) assert.ok(stderr.includes(word), `stderr mentions ${word}: ${stderr}`);
      assert.equal(chainList(), before_, 'the chain is unchanged');
    });
  }

  test('a derived rotary_emb.inv_freq tensor is not "unknown": the import goes through', () => {
    const dir = checkpoint('olmoe', {
      tensors: (ts) => [...ts, { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', dtype: 'f32', shape: [4], data: new Uint8Array(16) }],
    });
    const r = blyanJson<{ family: string; written: number }>(['import', dir, '--name', 'with-inv-freq', '--data', data], ENV);
    assert.equal(r.family, 'olmoe');
    assert.ok(r.written > 0);
  });
});

describe('model forward / generate refuse bad input', { timeout: 60_000 }, () => {
  const args = (ids: number[]) => ['--ids', ids.join(','), '--model', 'good'];

  test('ids outside the vocabulary → ENGINE_BAD_INPUT', () => {
    expectError(['model', 'forward', ...args([999999])], 'ENGINE_BAD_INPUT');
    expectError(['model', 'forward', ...args([1, 2, VOCAB])], 'ENGINE_BAD_INPUT');
    expectError(['model', 'generate', ...args([VOCAB]), '--greedy', '--max-new-tokens', '2'], 'ENGINE_BAD_INPUT');
    const ok = blyanJson<{ logits: number[][] }>(['model', 'forward', ...args([0, VOCAB - 1]), '--data', data]);
    assert.equal(ok.logits.length, 2);
  });

  test(`a prompt longer than max_position_embeddings (${CONTEXT}) → ENGINE_CONTEXT_OVERFLOW`, () => {
    const long = Array.from({ length: CONTEXT + 1 }, (_, i) => i % VOCAB);
    expectError(['model', 'forward', ...args(long)], 'ENGINE_CONTEXT_OVERFLOW');
    expectError(['model', 'generate', ...args(long), '--greedy', '--max-new-tokens', '1'], 'ENGINE_CONTEXT_OVERFLOW');
    expectError(['model', 'generate', ...args(long), '--greedy', '--max-new-tokens', '1', '--no-cache'], 'ENGINE_CONTEXT_OVERFLOW');
    const full = blyanJson<{ logits: number[][] }>(['model', 'forward', ...args(long.slice(0, CONTEXT)), '--data', data]);
    assert.equal(full.logits.length, CONTEXT, 'exactly the context fits');
  });
});
