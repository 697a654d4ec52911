/**
 * An independent float64 reference forward pass for the MoE families Blyan imports, written from the
 * Hugging Face modeling code (transformers v4.45: modeling_mixtral.py, modeling_qwen2_moe.py,
 * modeling_olmoe.py) and deliberately sharing nothing with src/: its own config reading, its own
 * safetensors reader, plain nested loops, no KV cache (every call recomputes the whole sequence).
 *
 * Per decoder layer (pre-norm):
 *   h = RMSNorm(x) · w_in                              (HF form: x / sqrt(mean(x²) + eps) · w)
 *   q, k, v = h·Wqᵀ (+bq), h·Wkᵀ (+bk), h·Wvᵀ (+bv)    (biases: Qwen2-MoE)
 *   OLMoE: q = RMSNorm(q)·q_norm over the whole projection, k likewise; then clamp q,k,v to ±clip_qkv
 *   RoPE (rotate_half, inv_freq_i = θ^(−2i/d)), causal GQA softmax attention, o_proj, residual
 *   h = RMSNorm(x) · w_post
 *   sparse layer: p = softmax(h·Wrᵀ) over all experts; top-k by p (descending, ties → lower index);
 *     renormalise when norm_topk_prob (Mixtral: always); y = Σ p_e · down(silu(gate h) ⊙ up h);
 *     Qwen2-MoE adds sigmoid(w_sg · h) · shared(h)
 *   dense layer (Qwen2-MoE, (l+1) % decoder_sparse_step ≠ 0 or l ∈ mlp_only_layers): y = down(silu(gate h) ⊙ up h)
 *   x = x + y
 * then RMSNorm(x)·w_final and lm_head (or the embeddings when tied).
 */
import { closeSync, openSync, readFileSync, readSync, fstatSync } from 'node:fs';
import { join } from 'node:path';

export type RefFamily = 'mixtral' | 'qwen2moe' | 'olmoe';

export interface RefConfig {
  family: RefFamily;
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  experts: number;
  topK: number;
  normTopkProb: boolean;
  /** Per layer: routed MoE (true) or dense MLP (false). */
  sparse: boolean[];
  clipQkv: number | null;
  ropeTheta: number;
  eps: number;
  tied: boolean;
}

export interface RefTensor {
  shape: number[];
  data: Float64Array;
}

export interface RefModel {
  config: RefConfig;
  tensors: Map<string, RefTensor>;
}

const num = (c: Record<string, unknown>, key: string, fallback?: number): number => {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number') throw new Error(`config.json: ${key} missing`);
  return v;
};

/** Reads a HF config.json dict the way the family's PretrainedConfig subclass does (v4.45 defaults). */
export function refConfigFromHf(c: Record<string, unknown>): RefConfig {
  const arch = (c.architectures as string[] | undefined)?.[0];
  const family: RefFamily | undefined =
    arch === 'MixtralForCausalLM' ? 'mixtral' : arch === 'Qwen2MoeForCausalLM' ? 'qwen2moe' : arch === 'OlmoeForCausalLM' ? 'olmoe' : undefined;
  if (family === undefined) throw new Error(`reference: unsupported architecture ${String(arch)}`);
  const layers = num(c, 'num_hidden_layers');
  const heads = num(c, 'num_attention_heads');
  const hidden = num(c, 'hidden_size');
  const experts = num(c, family === 'mixtral' ? 'num_local_experts' : 'num_experts');
  const step = num(c, 'decoder_sparse_step', 1);
  const mlpOnly = (c.mlp_only_layers as number[] | undefined) ?? [];
  const kv = c.num_key_value_heads;
  return {
    family,
    vocab: num(c, 'vocab_size'),
    hidden,
    layers,
    heads,
    kvHeads: typeof kv === 'number' ? kv : heads,
    headDim: hidden / heads,
    experts,
    topK: num(c, 'num_experts_per_tok'),
    normTopkProb: family === 'mixtral' ? true : c.norm_topk_prob === true,
    sparse: Array.from({ length: layers }, (_, l) => family !== 'qwen2moe' || (!mlpOnly.includes(l) && experts > 0 && (l + 1) % step === 0)),
    clipQkv: family === 'olmoe' && typeof c.clip_qkv === 'number' ? c.clip_qkv : null,
    ropeTheta: num(c, 'rope_theta', family === 'mixtral' ? 1e6 : 10000),
    eps: num(c, 'rms_norm_eps', family === 'qwen2moe' ? 1e-6 : 1e-5),
    tied: c.tie_word_embeddings === true,
  };
}

/** A minimal safetensors reader (8-byte LE header length, JSON header, little-endian data), F32/BF16/F16 only. */
export function readSafetensorsF64(path: string): Map<string, RefTensor> {
  const fd = openSync(path, 'r');
  let bytes: Buffer;
  try {
    bytes = Buffer.alloc(fstatSync(fd).size);
    for (let done = 0; done < bytes.length; ) {
      const n = readSync(fd, bytes, done, bytes.length - done, done);
      if (n === 0) throw new Error(`${path}: short read`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + headerLen;
  const out = new Map<string, RefTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = info.data_offsets;
    const raw = bytes.subarray(base + begin, base + end);
    const n = info.shape.reduce((a, b) => a * b, 1);
    const data = new Float64Array(n);
    if (info.dtype === 'F32') {
      for (let i = 0; i < n; i++) data[i] = raw.readFloatLE(4 * i);
    } else if (info.dtype === 'BF16') {
      const tmp = Buffer.alloc(4);
      for (let i = 0; i < n; i++) {
        tmp.writeUInt32LE((raw.readUInt16LE(2 * i) << 16) >>> 0, 0);
        data[i] = tmp.readFloatLE(0);
      }
    } else if (info.dtype === 'F16') {
      for (let i = 0; i < n; i++) data[i] = halfToNumber(raw.readUInt16LE(2 * i));
    } else throw new Error(`reference: dtype ${info.dtype} of ${name} not supported`);
    out.set(name, { shape: info.shape, data });
  }
  return out;
}

function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m === 0 ? s * Number.POSITIVE_INFINITY : Number.NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Loads a checkpoint directory (config.json + model.safetensors). */
export function loadReferenceModel(dir: string): RefModel {
  const config = refConfigFromHf(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>);
  return { config, tensors: readSafetensorsF64(join(dir, 'model.safetensors')) };
}

// ---------------------------------------------------------------------------------------------------

type Vec = Float64Array;

function get(m: RefModel, name: string): RefTensor {
  const t = m.tensors.get(name);
  if (t === undefined) throw new Error(`reference: checkpoint lacks ${name}`);
  return t;
}

/** y = W x for W [out, in] (nn.Linear without bias). */
function linear(w: RefTensor, x: Vec): Vec {
  const [rows, cols] = w.shape as [number, number];
  if (x.length !== cols) throw new Error(`linear: ${x.length} ≠ ${cols}`);
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = r * cols;
    for (let c = 0; c < cols; c++) s += (w.data[o + c] as number) * (x[c] as number);
    y[r] = s;
  }
  return y;
}

function addBias(y: Vec, b: RefTensor): Vec {
  for (let i = 0; i < y.length; i++) y[i] = (y[i] as number) + (b.data[i] as number);
  return y;
}

function rmsNorm(x: Vec, w: RefTensor, eps: number): Vec {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * (w.data[i] as number));
}

const silu = (v: number): number => v / (1 + Math.exp(-v));
const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

function mlp(m: RefModel, prefix: string, names: { gate: string; up: string; down: string }, x: Vec): Vec {
  const g = linear(get(m, `${prefix}.${names.gate}.weight`), x);
  const u = linear(get(m, `${prefix}.${names.up}.weight`), x);
  const a = g.map((v, i) => silu(v) * (u[i] as number));
  return linear(get(m, `${prefix}.${names.down}.weight`), a);
}

function softmax(x: readonly number[]): number[] {
  const max = Math.max(...x);
  const e = x.map((v) => Math.exp(v - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Rotates one head in place: rotate_half layout, angle pos · θ^(−2i/d). */
function rope(x: Vec, offset: number, d: number, pos: number, theta: number): void {
  const half = d / 2;
  for (let i = 0; i < half; i++) {
    const angle = pos / theta ** ((2 * i) / d);
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    const x1 = x[offset + i] as number;
    const x2 = x[offset + i + half] as number;
    x[offset + i] = x1 * c - x2 * s;
    x[offset + i + half] = x2 * c + x1 * s;
  }
}

export interface RefForward {
  /** [T][V] */
  logits: number[][];
  /** [layer][token][k], most probable first; a dense layer is [] (as the engine reports it). */
  experts: number[][][];
  /** Smallest gap, over all tokens and sparse layers, between consecutive sorted routing probabilities among the top k+1. */
  routingMargin: number;
  /** OLMoE with clip_qkv: how many q/k/v values the clamp changed. */
  clipped: number;
}

/** Full forward pass over `ids` at positions 0..T−1 (batch 1, no padding). */
export function referenceForward(m: RefModel, ids: readonly number[]): RefForward {
  const c = m.config;
  const H = c.hidden;
  const d = c.headDim;
  const T = ids.length;
  const qDim = c.heads * d;
  const group = c.heads / c.kvHeads;
  const embed = get(m, 'model.embed_tokens.weight');
  const x: Vec[] = ids.map((id) => {
    if (!Number.isInteger(id) || id < 0 || id >= c.vocab) throw new Error(`reference: id ${id} outside the vocabulary`);
    return embed.data.slice(id * H, (id + 1) * H);
  });
  const experts: number[][][] = [];
  let routingMargin = Number.POSITIVE_INFINITY;
  let clipped = 0;
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}`;
    const a = `${p}.self_attn`;
    const qs: Vec[] = [];
    const ks: Vec[] = [];
    const vs: Vec[] = [];
    for (let t = 0; t < T; t++) {
      const h = rmsNorm(x[t] as Vec, get(m, `${p}.input_layernorm.weight`), c.eps);
      let q = linear(get(m, `${a}.q_proj.weight`), h);
      let k = linear(get(m, `${a}.k_proj.weight`), h);
      let v = linear(get(m, `${a}.v_proj.weight`), h);
      if (c.family === 'qwen2moe') {
        addBias(q, get(m, `${a}.q_proj.bias`));
        addBias(k, get(m, `${a}.k_proj.bias`));
        addBias(v, get(m, `${a}.v_proj.bias`));
      }
      if (c.family === 'olmoe') {
        q = rmsNorm(q, get(m, `${a}.q_norm.weight`), c.eps);
        k = rmsNorm(k, get(m, `${a}.k_norm.weight`), c.eps);
        const clip = c.clipQkv;
        if (clip !== null) {
          const clamp = (u: number) => {
            if (Math.abs(u) > clip) clipped++;
            return Math.min(clip, Math.max(-clip, u));
          };
          q = q.map(clamp);
          k = k.map(clamp);
          v = v.map(clamp);
        }
      }
      for (let hh = 0; hh < c.heads; hh++) rope(q, hh * d, d, t, c.ropeTheta);
      for (let hh = 0; hh < c.kvHeads; hh++) rope(k, hh * d, d, t, c.ropeTheta);
      qs.push(q);
      ks.push(k);
      vs.push(v);
    }
    for (let t = 0; t < T; t++) {
      const attn = new Float64Array(qDim);
      for (let hh = 0; hh < c.heads; hh++) {
        const kvh = Math.floor(hh / group);
        const scores: number[] = [];
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let i = 0; i < d; i++) dot += ((qs[t] as Vec)[hh * d + i] as number) * ((ks[s] as Vec)[kvh * d + i] as number);
          scores.push(dot / Math.sqrt(d));
        }
        const w = softmax(scores);
        for (let s = 0; s <= t; s++) {
          for (let i = 0; i < d; i++) attn[hh * d + i] = (attn[hh * d + i] as number) + (w[s] as number) * ((vs[s] as Vec)[kvh * d + i] as number);
        }
      }
      const o = linear(get(m, `${a}.o_proj.weight`), attn);
      const xt = x[t] as Vec;
      for (let i = 0; i < H; i++) xt[i] = (xt[i] as number) + (o[i] as number);
    }

    const layerExperts: number[][] = [];
    for (let t = 0; t < T; t++) {
      const xt = x[t] as Vec;
      const h = rmsNorm(xt, get(m, `${p}.post_attention_layernorm.weight`), c.eps);
      let y: Vec;
      if (!c.sparse[l]) {
        y = mlp(m, `${p}.mlp`, { gate: 'gate_proj', up: 'up_proj', down: 'down_proj' }, h);
      } else {
        const moe = c.family === 'mixtral' ? `${p}.block_sparse_moe` : `${p}.mlp`;
        const names = c.family === 'mixtral' ? { gate: 'w1', up: 'w3', down: 'w2' } : { gate: 'gate_proj', up: 'up_proj', down: 'down_proj' };
        const probs = softmax(Array.from(linear(get(m, `${moe}.gate.weight`), h)));
        const order = probs.map((_, e) => e).sort((e1, e2) => (probs[e2] as number) - (probs[e1] as number) || e1 - e2);
        const chosen = order.slice(0, c.topK);
        for (let i = 0; i < Math.min(c.topK, c.experts - 1); i++) {
          routingMargin = Math.min(routingMargin, (probs[order[i] as number] as number) - (probs[order[i + 1] as number] as number));
        }
        let weights = chosen.map((e) => probs[e] as number);
        if (c.normTopkProb) {
          const s = weights.reduce((u, v) => u + v, 0);
          weights = weights.map((w) => w / s);
        }
        layerExperts.push(chosen);
        y = new Float64Array(H);
        for (const [i, e] of chosen.entries()) {
          const ye = mlp(m, `${moe}.experts.${e}`, names, h);
          for (let j = 0; j < H; j++) y[j] = (y[j] as number) + (weights[i] as number) * (ye[j] as number);
        }
        if (c.family === 'qwen2moe') {
          const sh = mlp(m, `${moe}.shared_expert`, { gate: 'gate_proj', up: 'up_proj', down: 'down_proj' }, h);
          const g = sigmoid(linear(get(m, `${moe}.shared_expert_gate.weight`), h)[0] as number);
          for (let j = 0; j < H; j++) y[j] = (y[j] as number) + g * (sh[j] as number);
        }
      }
      for (let i = 0; i < H; i++) xt[i] = (xt[i] as number) + (y[i] as number);
    }
    experts.push(c.sparse[l] ? layerExperts : []);
  }
  const head = c.tied ? embed : get(m, 'lm_head.weight');
  const logits = x.map((xt) => Array.from(linear(head, rmsNorm(xt, get(m, 'model.norm.weight'), c.eps))));
  return { logits, experts, routingMargin, clipped };
}

export interface RefGreedy {
  /** New tokens only. */
  ids: number[];
  /** Routing of prompt + all new tokens (the full sequence), [layer][token][k]. */
  experts: number[][][];
  /** Smallest top-1 − top-2 logit gap over the greedy steps. */
  argmaxMargin: number;
  /** Smallest routing margin over the full sequence. */
  routingMargin: number;
}

/** Greedy decoding (argmax, ties → lowest id) by recomputing the whole sequence at every step. */
export function referenceGreedy(m: RefModel, prompt: readonly number[], maxNew: number): RefGreedy {
  const seq = [...prompt];
  const ids: number[] = [];
  let argmaxMargin = Number.POSITIVE_INFINITY;
  for (let i = 0; i < maxNew; i++) {
    const r = referenceForward(m, seq);
    const last = r.logits[r.logits.length - 1] as number[];
    let best = 0;
    for (let v = 1; v < last.length; v++) if ((last[v] as number) > (last[best] as number)) best = v;
    let second = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < last.length; v++) if (v !== best) second = Math.max(second, last[v] as number);
    argmaxMargin = Math.min(argmaxMargin, (last[best] as number) - second);
    ids.push(best);
    seq.push(best);
  }
  const full = referenceForward(m, seq);
  return { ids, experts: full.experts, argmaxMargin, routingMargin: full.routingMargin };
}
