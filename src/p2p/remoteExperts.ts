import './polyfill.ts';
import { randomBytes } from 'node:crypto';
import type { Hash } from '../chain/hash.ts';
import { toHex } from '../chain/hash.ts';
import type { ExpertJob, ExpertRunner } from '../engine/expertRunner.ts';
import { BlyanError, isBlyanError } from '../errors.ts';
import { Rng } from '../learning/rng.ts';
import { type ExpertWireJob, MAX_JOBS, MAX_ROWS, requestExperts } from './expertRpc.ts';
import { type PenaltyReason, transportPenalty } from './peerScore.ts';
import type { RpcSessions } from './protocols/rpcSession.ts';
import type { WorkerRegistry } from './workerRegistry.ts';

/**
 * The engine's remote ExpertRunner (docs/expert-rpc.md §6–§7): each routed expert of a layer runs on a worker
 * that hosts that exact version (block id), chosen by the registry — the fastest live replica. A request
 * that fails or times out is retried on the next replica; when none is left the job runs here (or fails,
 * with fallback 'none'). A fraction of remote results is recomputed here and compared bit for bit: a
 * mismatch quarantines the worker (and its peer score bans it), and every job of that answer is redone — the
 * checked one from the local result, the others on another replica — so the layer's output stays exact.
 * Results are returned per job; the MoE layer sums them in its own fixed order.
 */
export interface RemoteRunnerOptions {
  /** Probability that a remote result is recomputed here and compared bitwise (default 0.05; tests 1). */
  readonly spotCheck?: number;
  /** Seed of the spot-check draws, for reproducible tests (default: random). */
  readonly seed?: number;
  /** When no replica answers: 'local' runs the job here (default), 'none' fails with P2P_EXPERT_UNAVAILABLE. */
  readonly fallback?: 'local' | 'none';
  /** Deadline of one request (dial, send, compute, answer); default 10 s. */
  readonly timeoutMs?: number;
  /** Distinct workers tried per job before the fallback (default 3). */
  readonly attempts?: number;
  /** Budget of a DHT lookup when no replica of a version is known (default 2 s; 0 disables). */
  readonly discoverMs?: number;
  readonly onEvent?: (e: RemoteExpertEvent) => void;
}

export type RemoteExpertEvent =
  | { readonly type: 'expert-call'; readonly peer: string; readonly jobs: number; readonly rows: number; readonly ms: number }
  | { readonly type: 'expert-failed'; readonly peer: string; readonly code: string; readonly message: string }
  | { readonly type: 'expert-spot-check'; readonly peer: string; readonly expert: string; readonly ok: boolean }
  | { readonly type: 'expert-fallback'; readonly expert: string; readonly reason: string };

export interface RemoteRunnerStats {
  /** Jobs (pieces) answered by workers and accepted. */
  remoteJobs: number;
  /** Jobs computed here: no replica, fallback, or redone after a mismatch. */
  localJobs: number;
  requests: number;
  failures: number;
  retries: number;
  spotChecks: number;
  mismatches: number;
  /** Spot checks skipped because this node could not load the expert itself. */
  unverifiable: number;
}

export interface RemoteRunnerDeps {
  /** Expert RPC sessions to workers (one stream per worker, shared by all layers' runners). */
  readonly sessions: RpcSessions;
  readonly registry: WorkerRegistry;
  readonly model: Hash;
  readonly hidden: number;
  /** The current version (block id) of a component, or undefined when the chain has none. */
  readonly versionOf: (name: string) => Hash | undefined;
  /** Runs jobs here: spot checks, fallback, redoing a liar's work. */
  readonly local: ExpertRunner;
  readonly penalise: (peer: string, reason: PenaltyReason, err: unknown) => void;
  readonly reward: (peer: string) => void;
}

/** A piece of a job: at most MAX_ROWS of its rows, the unit that is sent, checked and retried. */
interface Piece {
  readonly job: number;
  readonly name: string;
  readonly block: Hash;
  readonly rows: number;
  readonly xs: Float32Array;
  readonly scale: Float32Array;
  readonly tried: Set<string>;
  /** Drawn once, in job order, so a seeded runner checks the same pieces whatever order answers arrive in. */
  readonly check: boolean;
  result?: Float32Array;
  /** Computed here already (a spot check): reused if the worker's answer is thrown away. */
  local?: Float32Array;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i] as number)) return false;
  return true;
}

/** Whether a failed exchange says the worker should be skipped a while, rather than that it refused this job. */
function isDown(err: unknown): boolean {
  if (!isBlyanError(err)) return false;
  // Gone (no answer in time, connection lost) or broken (answers that are not the wire format): either
  // way it is skipped for a while rather than asked again for the next layer.
  return ['P2P_TIMEOUT', 'P2P_STREAM_CLOSED', 'P2P_BAD_SHAPE', 'P2P_MALFORMED', 'P2P_FRAME_TOO_LARGE'].includes(err.code);
}

function penaltyOf(err: unknown): PenaltyReason | undefined {
  if (!isBlyanError(err)) return undefined;
  switch (err.code) {
    case 'P2P_BAD_SHAPE':
      return 'malformed';
    case 'P2P_REMOTE_ERROR':
      // It announced the version, then refused it: stale announcement (small), or its own trouble.
      return err.data['remote'] === 'EXPERT_NOT_HOSTED' ? 'not-found' : err.data['remote'] === 'BUSY' ? undefined : 'useless';
    default:
      return transportPenalty(err.code);
  }
}

export class RemoteExpertRunner implements ExpertRunner {
  readonly stats: RemoteRunnerStats = { remoteJobs: 0, localJobs: 0, requests: 0, failures: 0, retries: 0, spotChecks: 0, mismatches: 0, unverifiable: 0 };
  private readonly rng: Rng;
  private readonly p: number;
  private readonly fallback: 'local' | 'none';
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly discoverMs: number;
  private readonly modelHex: string;

  constructor(
    private readonly deps: RemoteRunnerDeps,
    private readonly opts: RemoteRunnerOptions = {},
  ) {
    this.p = Math.min(1, Math.max(0, opts.spotCheck ?? 0.05));
    this.rng = new Rng(opts.seed ?? randomBytes(4).readUInt32LE(0));
    this.fallback = opts.fallback ?? 'local';
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.attempts = Math.max(1, opts.attempts ?? 3);
    this.discoverMs = opts.discoverMs ?? 2000;
    this.modelHex = toHex(deps.model);
  }

  private emit(e: RemoteExpertEvent): void {
    this.opts.onEvent?.(e);
  }

  async runLayer(layer: number, jobs: readonly ExpertJob[]): Promise<Float32Array[]> {
    const H = this.deps.hidden;
    const out: (Float32Array | undefined)[] = new Array(jobs.length);
    const pieces: Piece[] = [];
    const localJobs: number[] = [];
    for (const [j, job] of jobs.entries()) {
      const block = this.deps.versionOf(job.name);
      // No version on chain: the local runner reports it exactly as it would without workers.
      if (block === undefined) {
        localJobs.push(j);
        continue;
      }
      const scale = Float32Array.from(job.scale);
      for (let r = 0; r < job.rows; r += MAX_ROWS) {
        const n = Math.min(MAX_ROWS, job.rows - r);
        const check = this.p > 0 && this.rng.nextU32() / 2 ** 32 < this.p;
        pieces.push({ job: j, name: job.name, block, rows: n, xs: job.xs.subarray(r * H, (r + n) * H), scale: scale.subarray(r, r + n), tried: new Set(), check });
      }
    }
    if (localJobs.length > 0) {
      const ys = await this.deps.local.runLayer(
        layer,
        localJobs.map((j) => jobs[j] as ExpertJob),
      );
      for (const [i, j] of localJobs.entries()) out[j] = ys[i];
    }
    let pending = pieces;
    while (pending.length > 0) {
      const byPeer = new Map<string, Piece[]>();
      const stranded: Piece[] = [];
      for (const piece of pending) {
        const peer = await this.pick(piece);
        if (peer === undefined) stranded.push(piece);
        else {
          const list = byPeer.get(peer) ?? [];
          list.push(piece);
          byPeer.set(peer, list);
        }
      }
      const retry: Piece[][] = await Promise.all([...byPeer].flatMap(([peer, ps]) => this.batches(ps).map((b) => this.send(layer, peer, b))));
      for (const piece of stranded) await this.runHere(layer, piece, piece.tried.size === 0 ? 'no live replica' : `${piece.tried.size} replicas failed`);
      pending = retry.flat();
      if (pending.length > 0) this.stats.retries += pending.length;
    }
    for (const [j, job] of jobs.entries()) {
      if (out[j] !== undefined) continue;
      const own = pieces.filter((p) => p.job === j);
      if (own.length === 1) out[j] = (own[0] as Piece).result;
      else {
        const ys = new Float32Array(job.rows * H);
        let at = 0;
        for (const p of own) {
          ys.set(p.result as Float32Array, at);
          at += p.rows * H;
        }
        out[j] = ys;
      }
    }
    return out as Float32Array[];
  }

  /** The best replica not tried yet for this piece; a DHT lookup first when the table knows none at all. */
  private async pick(piece: Piece): Promise<string | undefined> {
    if (piece.tried.size >= this.attempts) return undefined;
    const blockHex = toHex(piece.block);
    let peers = this.deps.registry.replicas(this.modelHex, piece.name, blockHex).filter((p) => !piece.tried.has(p));
    if (peers.length === 0 && piece.tried.size === 0 && this.discoverMs > 0) {
      const lookup = this.deps.registry.discover(this.modelHex, piece.name, piece.block, this.discoverMs);
      // With a local fallback the token does not wait for the DHT: this piece runs here, later ones use
      // what the lookup finds. Without one, the lookup is the only hope.
      if (this.fallback === 'local') return undefined;
      await lookup;
      peers = this.deps.registry.replicas(this.modelHex, piece.name, blockHex).filter((p) => !piece.tried.has(p));
    }
    return peers[0];
  }

  /** Packs a peer's pieces into requests of at most MAX_ROWS rows and MAX_JOBS jobs. */
  private batches(ps: Piece[]): Piece[][] {
    const out: Piece[][] = [];
    let cur: Piece[] = [];
    let rows = 0;
    for (const p of ps) {
      if (cur.length > 0 && (rows + p.rows > MAX_ROWS || cur.length >= MAX_JOBS)) {
        out.push(cur);
        cur = [];
        rows = 0;
      }
      cur.push(p);
      rows += p.rows;
    }
    if (cur.length > 0) out.push(cur);
    return out;
  }

  /** One request to one worker; returns the pieces to try again elsewhere. */
  private async send(layer: number, peer: string, ps: Piece[]): Promise<Piece[]> {
    for (const p of ps) p.tried.add(peer);
    const jobs: ExpertWireJob[] = ps.map((p) => ({ expert: p.name, block: p.block, rows: p.rows, scale: p.scale, xs: p.xs }));
    const rows = ps.reduce((a, p) => a + p.rows, 0);
    const reg = this.deps.registry;
    reg.begin(peer);
    this.stats.requests++;
    const t0 = performance.now();
    let ys: Float32Array[];
    try {
      ys = await requestExperts(this.deps.sessions, reg.peerId(peer), { model: this.deps.model, hidden: this.deps.hidden, jobs }, this.timeoutMs);
    } catch (err) {
      this.stats.failures++;
      const code = isBlyanError(err) ? err.code : 'ERROR';
      const message = err instanceof Error ? err.message : String(err);
      const remote = isBlyanError(err, 'P2P_REMOTE_ERROR') ? String(err.data['remote']) : undefined;
      reg.failed(peer, remote ?? code, { down: isDown(err) });
      // Announced, then refused: its announcement is stale; forget those versions until it announces again.
      if (remote === 'EXPERT_NOT_HOSTED') for (const p of ps) reg.dropVersion(peer, this.modelHex, p.name, toHex(p.block));
      const reason = penaltyOf(err);
      if (reason !== undefined) this.deps.penalise(peer, reason, err);
      this.emit({ type: 'expert-failed', peer, code, message });
      return ps;
    }
    const ms = performance.now() - t0;
    reg.succeeded(peer, ms);
    this.emit({ type: 'expert-call', peer, jobs: ps.length, rows, ms });
    // Check before accepting anything from this answer: one wrong piece condemns the whole answer.
    for (const [i, p] of ps.entries()) {
      const y = ys[i] as Float32Array;
      // Non-finite outputs are always checked: an honest worker returns them only if the weights do.
      const forced = !allFinite(y);
      if (!forced && !p.check) continue;
      let mine: Float32Array;
      try {
        mine = await this.compute(layer, p);
      } catch (err) {
        this.stats.unverifiable++;
        if (forced) {
          this.fail(peer, p, new BlyanError('P2P_BAD_DATA', `${p.name}: non-finite outputs that this node cannot check (${isBlyanError(err) ? err.code : 'error'})`));
          return ps;
        }
        continue;
      }
      this.stats.spotChecks++;
      const ok = sameBits(y, mine);
      this.emit({ type: 'expert-spot-check', peer, expert: p.name, ok });
      if (!ok) {
        this.stats.mismatches++;
        reg.quarantine(peer, p.name);
        this.deps.penalise(peer, 'bad-data', new BlyanError('P2P_EXPERT_MISMATCH', `${p.name}: worker output differs from the local recomputation`, { peer, expert: p.name }));
        // The checked piece takes the local result, so do pieces checked before it; the others of this
        // answer go to another replica.
        const redo: Piece[] = [];
        for (const q of ps) {
          if (q.local === undefined) redo.push(q);
          else {
            q.result = q.local;
            this.stats.localJobs++;
          }
        }
        return redo;
      }
    }
    for (const [i, p] of ps.entries()) p.result = ys[i] as Float32Array;
    this.stats.remoteJobs += ps.length;
    this.deps.reward(peer);
    return [];
  }

  private fail(peer: string, p: Piece, err: BlyanError): void {
    this.stats.mismatches++;
    this.deps.registry.quarantine(peer, p.name);
    this.deps.penalise(peer, 'bad-data', err);
  }

  private async compute(layer: number, p: Piece): Promise<Float32Array> {
    if (p.local !== undefined) return p.local;
    const [y] = await this.deps.local.runLayer(layer, [{ name: p.name, xs: p.xs, rows: p.rows, scale: Array.from(p.scale) }]);
    p.local = y as Float32Array;
    return p.local;
  }

  private async runHere(layer: number, p: Piece, reason: string): Promise<void> {
    if (this.fallback === 'none') {
      throw new BlyanError('P2P_EXPERT_UNAVAILABLE', `${p.name}: ${reason}, and running experts here is disabled`, { expert: p.name, block: toHex(p.block), tried: [...p.tried] });
    }
    this.emit({ type: 'expert-fallback', expert: p.name, reason });
    p.result = await this.compute(layer, p);
    this.stats.localJobs++;
  }
}
