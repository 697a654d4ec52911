import type { ModelConfig } from '../modelConfig.ts';

/**
 * How a Hugging Face checkpoint is cut into chain-B blocks: one block per component, each holding its
 * tensors under short canonical keys. The same table drives import (HF name → block), the engine
 * (block → weights) and export (block → HF name), and it is stored in the model's meta block.
 */
export type ComponentType = 'base' | 'router' | 'expert';

export interface TensorSpec {
  /** Key inside the component's TensorBlock, e.g. "q", "gate", "input_norm". */
  readonly key: string;
  /** Tensor name in the Hugging Face checkpoint. */
  readonly hf: string;
  readonly shape: readonly number[];
}

export interface ComponentSpec {
  /** Component (and block `expert` field) name: embed, layer3.attn, layer3.router, layer3.expert7, layer3.shared, layer3.mlp, head. */
  readonly name: string;
  readonly type: ComponentType;
  readonly layer: number | null;
  readonly tensors: readonly TensorSpec[];
}

function names(family: ModelConfig['family'], l: number) {
  const p = `model.layers.${l}`;
  if (family === 'mixtral') {
    return {
      router: `${p}.block_sparse_moe.gate.weight`,
      expert: (e: number) => ({ gate: `${p}.block_sparse_moe.experts.${e}.w1.weight`, up: `${p}.block_sparse_moe.experts.${e}.w3.weight`, down: `${p}.block_sparse_moe.experts.${e}.w2.weight` }),
    };
  }
  return {
    router: `${p}.mlp.gate.weight`,
    expert: (e: number) => ({ gate: `${p}.mlp.experts.${e}.gate_proj.weight`, up: `${p}.mlp.experts.${e}.up_proj.weight`, down: `${p}.mlp.experts.${e}.down_proj.weight` }),
  };
}

export function modelLayout(c: ModelConfig): ComponentSpec[] {
  const H = c.hiddenSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const out: ComponentSpec[] = [{ name: 'embed', type: 'base', layer: null, tensors: [{ key: 'embed', hf: 'model.embed_tokens.weight', shape: [c.vocabSize, H] }] }];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    const attn: TensorSpec[] = [
      { key: 'input_norm', hf: `${p}.input_layernorm.weight`, shape: [H] },
      { key: 'q', hf: `${p}.self_attn.q_proj.weight`, shape: [qDim, H] },
      { key: 'k', hf: `${p}.self_attn.k_proj.weight`, shape: [kvDim, H] },
      { key: 'v', hf: `${p}.self_attn.v_proj.weight`, shape: [kvDim, H] },
      { key: 'o', hf: `${p}.self_attn.o_proj.weight`, shape: [H, qDim] },
    ];
    if (c.qkvBias) {
      attn.push(
        { key: 'q_bias', hf: `${p}.self_attn.q_proj.bias`, shape: [qDim] },
        { key: 'k_bias', hf: `${p}.self_attn.k_proj.bias`, shape: [kvDim] },
        { key: 'v_bias', hf: `${p}.self_attn.v_proj.bias`, shape: [kvDim] },
      );
    }
    if (c.qkNorm) {
      attn.push({ key: 'q_norm', hf: `${p}.self_attn.q_norm.weight`, shape: [qDim] }, { key: 'k_norm', hf: `${p}.self_attn.k_norm.weight`, shape: [kvDim] });
    }
    attn.push({ key: 'post_norm', hf: `${p}.post_attention_layernorm.weight`, shape: [H] });
    out.push({ name: `layer${l}.attn`, type: 'base', layer: l, tensors: attn });

    if (!c.sparseLayers[l]) {
      const I = c.denseIntermediate;
      out.push({
        name: `layer${l}.mlp`,
        type: 'base',
        layer: l,
        tensors: [
          { key: 'gate', hf: `${p}.mlp.gate_proj.weight`, shape: [I, H] },
          { key: 'up', hf: `${p}.mlp.up_proj.weight`, shape: [I, H] },
          { key: 'down', hf: `${p}.mlp.down_proj.weight`, shape: [H, I] },
        ],
      });
      continue;
    }
    const n = names(c.family, l);
    out.push({ name: `layer${l}.router`, type: 'router', layer: l, tensors: [{ key: 'gate', hf: n.router, shape: [c.numExperts, H] }] });
    const I = c.expertIntermediate;
    for (let e = 0; e < c.numExperts; e++) {
      const hf = n.expert(e);
      out.push({
        name: `layer${l}.expert${e}`,
        type: 'expert',
        layer: l,
        tensors: [
          { key: 'gate', hf: hf.gate, shape: [I, H] },
          { key: 'up', hf: hf.up, shape: [I, H] },
          { key: 'down', hf: hf.down, shape: [H, I] },
        ],
      });
    }
    if (c.sharedExpertIntermediate > 0) {
      const S = c.sharedExpertIntermediate;
      out.push({
        name: `layer${l}.shared`,
        type: 'expert',
        layer: l,
        tensors: [
          { key: 'gate', hf: `${p}.mlp.shared_expert.gate_proj.weight`, shape: [S, H] },
          { key: 'up', hf: `${p}.mlp.shared_expert.up_proj.weight`, shape: [S, H] },
          { key: 'down', hf: `${p}.mlp.shared_expert.down_proj.weight`, shape: [H, S] },
          { key: 'shared_gate', hf: `${p}.mlp.shared_expert_gate.weight`, shape: [1, H] },
        ],
      });
    }
  }
  const head: TensorSpec[] = [{ key: 'norm', hf: 'model.norm.weight', shape: [H] }];
  if (!c.tieWordEmbeddings) head.push({ key: 'lm_head', hf: 'lm_head.weight', shape: [c.vocabSize, H] });
  out.push({ name: 'head', type: 'base', layer: null, tensors: head });
  return out;
}
