import './polyfill.ts';
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import * as dagCbor from '@ipld/dag-cbor';
import type { PeerId } from '@libp2p/interface';
import { z } from 'zod';
import { baseVersionOf } from '../chain/dag.ts';
import { equalBytes, type Hash, toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import { ExpertCache } from '../engine/expertCache.ts';
import { ffnWeights, runFfn } from '../engine/expertRunner.ts';
import type { ComponentWeights, ExpertSource } from '../engine/expertSource.ts';
import type { Kernels } from '../engine/kernels/types.ts';
import { listModels, type ModelEntry } from '../engine/modelRegistry.ts';
import { BlyanError, isBlyanError } from '../errors.ts';
import { lineageSource } from '../learning/lineage.ts';
import { partsLength } from './framing.ts';
import { decodeBody, RpcError, type RpcLimits } from './protocols/rpc.ts';
import type { RpcSessions } from './protocols/rpcSession.ts';

/**
 * `/blyan/expert/2` (docs/expert-rpc.md): a service node sends a worker the hidden states of the tokens that
 * chose some experts of one layer, the worker runs those exact expert versions (named by block id) with the
 * engine's kernels and returns the outputs. Requests follow each other on one long-lived stream per pair of
 * peers (protocols/rpcSession.ts): an exchange per layer per token is too frequent for a stream each. Request: DAG-CBOR; response: the outputs as raw f32 little-endian,
 * in job order, exactly Σ rows·H values. Everything is f32 on both sides, and the kernels are bitwise
 * deterministic (src/engine/kernels/types.ts), so a remote answer equals the local one bit for bit — which is
 * what lets the service node spot-check workers by recomputing.
 */
export const EXPERT_PROTOCOL = '/blyan/expert/2';
export const EXPERT_RPC_VERSION = 1;
/** Rows (token × expert pairs) in one request, summed over its jobs: a 512-token prefill at top-2 fits. */
export const MAX_ROWS = 1024;
/** Jobs in one request (the experts of one layer a worker is asked for). */
export const MAX_JOBS = 64;
/** Largest hidden size a request may name (the worker still requires the model's own). */
export const MAX_HIDDEN = 16_384;
/** Room for the CBOR structure around the f32 data: per job a name (≤ 32 B), a block id and map keys. */
const STRUCTURE_BYTES = 256 + MAX_JOBS * 160;
const EXPERT_NAME = /^layer\d{1,4}\.expert\d{1,6}$/;

/** Frame limits for a model of hidden size H: the f32 data of MAX_ROWS rows plus the structure. */
export function expertLimits(hidden: number): RpcLimits {
  return { requestBytes: MAX_ROWS * (hidden + 1) * 4 + STRUCTURE_BYTES, responseBytes: MAX_ROWS * hidden * 4 };
}

export interface ExpertWireJob {
  /** `layer{L}.expert{E}` */
  readonly expert: string;
  /** Id of the expert version (a chain-B block) the outputs must come from. */
  readonly block: Hash;
  readonly rows: number;
  /** One router weight per row, f32. */
  readonly scale: Float32Array;
  /** rows × hidden hidden states, f32. */
  readonly xs: Float32Array;
}

export interface ExpertWireRequest {
  readonly model: Hash;
  readonly hidden: number;
  readonly jobs: readonly ExpertWireJob[];
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** f32 values as little-endian bytes (a view, no copy, on little-endian hosts). */
export function f32Bytes(a: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.byteLength);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) dv.setFloat32(i * 4, a[i] as number, true);
  return out;
}

/** Little-endian bytes as f32 values (a view when aligned on a little-endian host, else one copy). */
export function bytesF32(b: Uint8Array): Float32Array {
  const n = b.byteLength >>> 2;
  if (LITTLE_ENDIAN) {
    if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, n);
    return new Float32Array(b.slice().buffer, 0, n);
  }
  const out = new Float32Array(n);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

const bytes32 = z.instanceof(Uint8Array).refine((b) => b.byteLength === 32, 'must be 32 bytes');
const JobSchema = z
  .object({
    expert: z.string().max(32).regex(EXPERT_NAME),
    block: bytes32,
    rows: z.number().int().min(1).max(MAX_ROWS),
    scale: z.instanceof(Uint8Array),
    xs: z.instanceof(Uint8Array),
  })
  .strict();
const RequestSchema = z
  .object({
    v: z.literal(EXPERT_RPC_VERSION),
    model: bytes32,
    hidden: z.number().int().min(1).max(MAX_HIDDEN),
    jobs: z.array(JobSchema).min(1).max(MAX_JOBS),
  })
  .strict();

export function encodeExpertRequest(r: ExpertWireRequest): Uint8Array {
  return dagCbor.encode({
    v: EXPERT_RPC_VERSION,
    model: r.model,
    hidden: r.hidden,
    jobs: r.jobs.map((j) => ({ expert: j.expert, block: j.block, rows: j.rows, scale: f32Bytes(j.scale), xs: f32Bytes(j.xs) })),
  });
}

/**
 * Decodes a request: not DAG-CBOR or not the message shape is P2P_MALFORMED (BAD_REQUEST on the wire); a
 * well-formed message whose sizes do not add up (xs of the wrong length, too many rows) is BAD_SHAPE.
 */
export function decodeExpertRequest(bytes: Uint8Array): ExpertWireRequest {
  const r = decodeBody(bytes, RequestSchema, 'expert request');
  let rows = 0;
  const jobs = r.jobs.map((j, i) => {
    rows += j.rows;
    if (j.scale.byteLength !== 4 * j.rows) throw new RpcError('BAD_SHAPE', `job ${i}: scale has ${j.scale.byteLength} bytes, rows ${j.rows} need ${4 * j.rows}`);
    if (j.xs.byteLength !== 4 * j.rows * r.hidden) throw new RpcError('BAD_SHAPE', `job ${i}: xs has ${j.xs.byteLength} bytes, ${j.rows} × ${r.hidden} f32 need ${4 * j.rows * r.hidden}`);
    return { expert: j.expert, block: j.block, rows: j.rows, scale: bytesF32(j.scale), xs: bytesF32(j.xs) };
  });
  if (rows > MAX_ROWS) throw new RpcError('BAD_SHAPE', `${rows} rows in one request; at most ${MAX_ROWS}`);
  return { model: r.model, hidden: r.hidden, jobs };
}

/**
 * Splits a response (the parts as received) into one f32 array per job; anything but exactly Σ rows·H values
 * is P2P_BAD_SHAPE. One copy, into a fresh aligned buffer.
 */
export function decodeExpertResponse(parts: readonly Uint8Array[], req: ExpertWireRequest): Float32Array[] {
  const want = req.jobs.reduce((a, j) => a + j.rows * req.hidden * 4, 0);
  const got = partsLength(parts);
  if (got !== want) throw new BlyanError('P2P_BAD_SHAPE', `expert response of ${got} bytes; ${req.jobs.length} jobs of hidden size ${req.hidden} need ${want}`, { got, want });
  const all = new Uint8Array(want);
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.byteLength;
  }
  const values = bytesF32(all);
  const out: Float32Array[] = [];
  let at = 0;
  for (const j of req.jobs) {
    const n = j.rows * req.hidden;
    out.push(values.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** Sends one request and returns the outputs per job; remote errors are P2P_REMOTE_ERROR with data.remote. */
export async function requestExperts(sessions: RpcSessions, peer: PeerId, req: ExpertWireRequest, timeoutMs: number): Promise<Float32Array[]> {
  const parts = await sessions.request(peer, encodeExpertRequest(req), { limits: expertLimits(req.hidden), timeoutMs });
  return decodeExpertResponse(parts, req);
}

// ---------------------------------------------------------------------------------------------------------
// Worker side: which expert versions this node hosts, and serving them.

/** One expert version a worker serves. */
export interface HostedExpert {
  readonly model: Hash;
  readonly modelHex: string;
  readonly name: string;
  readonly block: Hash;
  readonly blockHex: string;
}

const ROUTED_EXPERT = /^layer\d+\.expert\d+$/;
const LINEAGE_LIMIT = 4096;

function payloadOk(store: BlockStore, id: Hash): boolean {
  const block = store.getBlock(id);
  if (block === undefined) return false;
  const payload = store.getPayload(block.header.payloadHash);
  if (payload === undefined || payload.byteLength !== block.header.payloadSize) return false;
  return equalBytes(new Uint8Array(createHash('sha256').update(payload).digest()), block.header.payloadHash);
}

/**
 * The routed experts a worker hosts: of the names selected (or all), each model's current version whose
 * blocks — the version and, for a delta, every block of its lineage back to the last full version — are in
 * the store with payloads that hash to their headers' payloadHash. Checked once per version id (the store
 * verified the blocks on append; this catches payloads missing or damaged since). Weights are loaded on
 * demand through an LRU cache keyed by version, so a new version never serves old weights.
 */
export class HostedExperts {
  private readonly verified = new Map<string, boolean>();
  private hosted = new Map<string, HostedExpert>();
  private readonly sources = new Map<string, { entry: ModelEntry; cache: ExpertCache }>();

  constructor(
    private readonly store: BlockStore,
    private readonly select: 'all' | ReadonlySet<string>,
    private readonly cacheBytes: number,
  ) {}

  private key(modelHex: string, name: string, blockHex: string): string {
    return `${modelHex}/${name}@${blockHex}`;
  }

  private verify(id: Hash): boolean {
    const hex = toHex(id);
    const hit = this.verified.get(hex);
    if (hit !== undefined) return hit;
    let ok = true;
    let cur: Hash | undefined = id;
    for (let n = 0; cur !== undefined && ok; n++) {
      const h = this.store.header(cur);
      if (h === undefined || n > LINEAGE_LIMIT || !payloadOk(this.store, cur)) ok = false;
      else cur = h.type === 'delta' ? baseVersionOf(h, this.store) : undefined;
    }
    if (this.verified.size > 65_536) this.verified.clear();
    this.verified.set(hex, ok);
    return ok;
  }

  /** Re-reads the parameter index (versions move on as deltas are accepted); true when the set changed. */
  refresh(): boolean {
    const next = new Map<string, HostedExpert>();
    for (const entry of listModels(this.store)) {
      for (const c of entry.meta.layout) {
        if (!ROUTED_EXPERT.test(c.name) || (this.select !== 'all' && !this.select.has(c.name))) continue;
        const id = this.store.currentVersion(entry.id, c.name);
        if (id === undefined) continue;
        try {
          if (!this.verify(id)) continue;
        } catch {
          continue;
        }
        const h: HostedExpert = { model: entry.id, modelHex: entry.idHex, name: c.name, block: id, blockHex: toHex(id) };
        next.set(this.key(h.modelHex, h.name, h.blockHex), h);
      }
    }
    const changed = next.size !== this.hosted.size || [...next.keys()].some((k) => !this.hosted.has(k));
    this.hosted = next;
    return changed;
  }

  list(): HostedExpert[] {
    return [...this.hosted.values()];
  }

  get(modelHex: string, name: string, blockHex: string): HostedExpert | undefined {
    return this.hosted.get(this.key(modelHex, name, blockHex));
  }

  /** Largest hidden size among the models with a hosted expert (request limits derive from it). */
  maxHidden(): number {
    let h = 0;
    const seen = new Set<string>();
    for (const x of this.hosted.values()) {
      if (seen.has(x.modelHex)) continue;
      seen.add(x.modelHex);
      const m = listModels(this.store).find((e) => e.idHex === x.modelHex);
      if (m !== undefined) h = Math.max(h, m.meta.config.hiddenSize);
    }
    return h;
  }

  hiddenOf(modelHex: string): number | undefined {
    return this.model(modelHex)?.entry.meta.config.hiddenSize;
  }

  private model(modelHex: string): { entry: ModelEntry; cache: ExpertCache } | undefined {
    const hit = this.sources.get(modelHex);
    if (hit !== undefined) return hit;
    const entry = listModels(this.store).find((e) => e.idHex === modelHex);
    if (entry === undefined) return undefined;
    const local = lineageSource(this.store, entry);
    // Keyed `name@block`: the loaded weights must be that version, or the request is refused.
    const source: ExpertSource = {
      load: async (key: string): Promise<ComponentWeights> => {
        const at = key.indexOf('@');
        const w = await local.load(key.slice(0, at));
        if (w.block !== key.slice(at + 1)) throw new RpcError('EXPERT_NOT_HOSTED', `${key.slice(0, at)} moved on to version ${w.block}`);
        return w;
      },
    };
    const m = { entry, cache: new ExpertCache(source, this.cacheBytes) };
    this.sources.set(modelHex, m);
    return m;
  }

  async weights(h: HostedExpert): Promise<ComponentWeights> {
    const m = this.model(h.modelHex);
    if (m === undefined) throw new RpcError('EXPERT_NOT_HOSTED', `no model ${h.modelHex}`);
    return m.cache.get(`${h.name}@${h.blockHex}`);
  }
}

export interface ExpertServerDeps {
  readonly hosted: HostedExperts;
  readonly kernels: () => Promise<Kernels>;
  /** A requester sent something that does not fit (BAD_SHAPE): scored like a malformed frame. */
  readonly onBadRequest: (peer: PeerId, err: BlyanError) => void;
  readonly onServed?: (peer: PeerId, jobs: number, rows: number) => void;
}

/** Counters of the serving side. */
export interface ExpertServerStats {
  requests: number;
  jobs: number;
  rows: number;
  refused: number;
}

/** The request handler of `/blyan/expert/2` (wrapped by serveSession for frames, limits and deadlines). */
export class ExpertServer {
  readonly stats: ExpertServerStats = { requests: 0, jobs: 0, rows: 0, refused: 0 };

  constructor(private readonly deps: ExpertServerDeps) {}

  /** Computes every job of a request; returns the response content (f32 LE outputs, in job order). */
  async handle(request: Uint8Array, peer: PeerId): Promise<Uint8Array[]> {
    let req: ExpertWireRequest;
    try {
      req = decodeExpertRequest(request);
    } catch (err) {
      this.stats.refused++;
      if (err instanceof RpcError) this.deps.onBadRequest(peer, new BlyanError('P2P_BAD_SHAPE', err.message));
      throw err;
    }
    const modelHex = toHex(req.model);
    const hidden = this.deps.hosted.hiddenOf(modelHex);
    const hosted = req.jobs.map((j) => this.deps.hosted.get(modelHex, j.expert, toHex(j.block)));
    const missing = req.jobs.findIndex((_, i) => hosted[i] === undefined);
    if (missing >= 0 || hidden === undefined) {
      this.stats.refused++;
      const j = req.jobs[Math.max(0, missing)] as ExpertWireJob;
      throw new RpcError('EXPERT_NOT_HOSTED', `${j.expert} version ${toHex(j.block).slice(0, 16)}… of model ${modelHex.slice(0, 16)}… is not hosted here`);
    }
    if (req.hidden !== hidden) {
      this.stats.refused++;
      const err = new RpcError('BAD_SHAPE', `hidden size ${req.hidden}; the model's is ${hidden}`);
      this.deps.onBadRequest(peer, new BlyanError('P2P_BAD_SHAPE', err.message));
      throw err;
    }
    const kernels = await this.deps.kernels();
    const out: Uint8Array[] = [];
    let rows = 0;
    for (const [i, j] of req.jobs.entries()) {
      let w: ComponentWeights;
      try {
        w = await this.deps.hosted.weights(hosted[i] as HostedExpert);
      } catch (err) {
        if (err instanceof RpcError) throw err;
        // Weights that fail to load (a payload gone since it was verified) mean we do not host it after all.
        throw new RpcError('EXPERT_NOT_HOSTED', `${j.expert}: ${isBlyanError(err) ? err.code : 'cannot load'}`);
      }
      const f = ffnWeights(w);
      if (f.gate.cols !== req.hidden || f.down.rows !== req.hidden) throw new RpcError('BAD_SHAPE', `${j.expert} maps ${f.gate.cols} → ${f.down.rows}, not ${req.hidden}`);
      out.push(f32Bytes(runFfn(kernels, f, j.xs, j.rows, j.scale)));
      rows += j.rows;
    }
    this.stats.requests++;
    this.stats.jobs += req.jobs.length;
    this.stats.rows += rows;
    this.deps.onServed?.(peer, req.jobs.length, rows);
    return out;
  }
}
