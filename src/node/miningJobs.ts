import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { formatAddress } from '../chain/address.ts';
import type { BlockStore } from '../chain/store.ts';
import { resolveModel } from '../engine/modelRegistry.ts';
import { BlyanError } from '../errors.ts';
import type { MineResult } from '../learning/miner.ts';
import { validationSpecOf } from '../learning/polValidationSet.ts';
import type { RejectedDeltas } from '../learning/rejectedDeltas.ts';
import type { MineTask, WorkerEvent } from './learningMessages.ts';
import { type JobStatus, MiningJob } from './miningJob.ts';
import { NodeError } from './nodeError.ts';
import type { NodeWallet } from './nodeWallet.ts';
import { tsWorker } from './tsWorker.ts';

/** What `POST /mine` asks for: the flags of `blyan mine`, for one expert. */
export interface MineRequest {
  readonly model?: string | undefined;
  readonly expert?: string | undefined;
  readonly steps: number;
  readonly lr: number;
  readonly batch: number;
  readonly seed?: number | undefined;
  readonly topK?: number | undefined;
  readonly threads?: number | undefined;
  readonly wallet?: string | undefined;
  readonly dryRun: boolean;
}

/** Finished jobs kept for `GET /mine` and `GET /mine/:id`. */
const KEPT_JOBS = 50;
/** How long a cancelled job may take to reach its next check (the next step) before its thread is stopped. */
const CANCEL_GRACE_MS = 10_000;
const WORKER = new URL('./learningWorker.ts', import.meta.url);

interface Running {
  readonly job: MiningJob;
  readonly worker: Worker;
  readonly cancel: Int32Array;
  readonly exited: Promise<void>;
  /** Set once validation starts: from then on the worker may write to the store. */
  validating: boolean;
}

/**
 * Mining jobs of the node: one at a time (a second is refused with MINE_BUSY, since both would compete for
 * the same cores), each in its own worker thread (learningWorker.ts). A job's accepted delta is appended by
 * the worker; the node's engine picks the new version up at its next request (EngineHost keys the loaded
 * model by current versions). Refusals are recorded in RejectedDeltas for `GET /pol/deltas`.
 */
export class MiningJobs {
  private readonly jobs = new Map<string, MiningJob>();
  private running: Running | undefined;
  /** Set while a start is between its checks and its worker (it awaits the wallet). */
  private starting = false;
  private closed = false;

  constructor(
    private readonly store: BlockStore,
    private readonly dataDir: string,
    private readonly wallet: NodeWallet,
    private readonly rejections: RejectedDeltas,
  ) {}

  get(id: string): MiningJob {
    const job = this.jobs.get(id);
    if (job === undefined) throw new BlyanError('NOT_FOUND', `no mining job ${id} on this node (jobs are kept in memory until the node restarts)`);
    return job;
  }

  /** Newest first. */
  list(): MiningJob[] {
    return [...this.jobs.values()].reverse();
  }

  get current(): MiningJob | undefined {
    return this.running?.job;
  }

  async start(req: MineRequest): Promise<MiningJob> {
    if (this.closed) throw new NodeError('NODE_STOPPING', 'the node is shutting down');
    this.assertIdle();
    this.starting = true;
    try {
      // Everything a user can get wrong is checked here, so it is a 4xx now rather than a failed job later.
      const model = resolveModel(this.store, req.model);
      validationSpecOf(model);
      if (req.expert !== undefined) {
        const c = model.meta.layout.find((x) => x.name === req.expert);
        if (c === undefined || c.type !== 'expert') {
          throw new BlyanError('BAD_ARGUMENT', `body.expert: ${req.expert} is not an expert of model ${model.meta.name} (experts are named like layer0.expert3)`);
        }
      }
      const signer = await this.wallet.unlock(req.wallet);
      if (this.closed) throw new NodeError('NODE_STOPPING', 'the node is shutting down');
      const threads = req.threads ?? Math.max(1, availableParallelism() - 1);
      const job = new MiningJob(randomUUID(), {
        model: model.idHex,
        modelName: model.meta.name,
        expert: req.expert ?? null,
        steps: req.steps,
        lr: req.lr,
        batch: req.batch,
        seed: req.seed ?? null,
        topK: req.topK ?? null,
        threads,
        dryRun: req.dryRun,
        miner: formatAddress(signer.address),
      });
      const cancel = new SharedArrayBuffer(4);
      const task: MineTask = {
        dataDir: this.dataDir,
        model: model.idHex,
        privateKey: signer.privateKey,
        steps: req.steps,
        lr: req.lr,
        batch: req.batch,
        threads,
        dryRun: req.dryRun,
        cancel,
        ...(req.expert === undefined ? {} : { expert: req.expert }),
        ...(req.seed === undefined ? {} : { seed: req.seed }),
        ...(req.topK === undefined ? {} : { topK: req.topK }),
      };
      this.remember(job);
      this.running = this.spawn(job, task, new Int32Array(cancel));
      return job;
    } finally {
      this.starting = false;
    }
  }

  private assertIdle(): void {
    const busy = this.running?.job;
    if (busy !== undefined || this.starting) {
      throw new BlyanError('MINE_BUSY', `this node runs one mining job at a time${busy === undefined ? '' : ` and job ${busy.id} is running`}: wait for it to finish (GET /mine/${busy?.id ?? ':jobId'}) or cancel it`, {
        ...(busy === undefined ? {} : { jobId: busy.id }),
      });
    }
  }

  private remember(job: MiningJob): void {
    this.jobs.set(job.id, job);
    for (const old of this.jobs.values()) {
      if (this.jobs.size <= KEPT_JOBS) break;
      if (old.finished) this.jobs.delete(old.id);
    }
  }

  private spawn(job: MiningJob, task: MineTask, cancel: Int32Array): Running {
    const worker = tsWorker(WORKER, task);
    worker.on('message', (m: WorkerEvent) => this.onWorkerEvent(job, m));
    worker.on('error', (err) => {
      job.error ??= { code: 'INTERNAL', message: `the learning worker failed: ${err.message}` };
    });
    const exited = new Promise<void>((resolve) => {
      worker.once('exit', () => {
        this.running = undefined;
        // The worker appended (or not) through its own view of the store: bring ours up to date.
        try {
          this.store.refreshHeads();
        } catch {
          // Left to the next append, which re-reads the heads and reports what is wrong.
        }
        job.finish(this.finalStatus(job, cancel));
        resolve();
      });
    });
    return { job, worker, cancel, exited, validating: false };
  }

  private finalStatus(job: MiningJob, cancel: Int32Array): JobStatus {
    const delta = job.result?.deltas[0];
    if (delta !== undefined) return delta.accepted ? 'accepted' : 'rejected';
    if (Atomics.load(cancel, 0) !== 0) return 'cancelled';
    if (job.error === null) job.error = { code: 'INTERNAL', message: 'the learning worker stopped without a result' };
    job.emit({ event: 'error', data: job.error });
    return 'failed';
  }

  private onWorkerEvent(job: MiningJob, m: WorkerEvent): void {
    if (m.type === 'progress') {
      job.step = m.step;
      job.loss = m.loss;
      job.emit({ event: 'progress', data: { step: m.step, steps: job.settings.steps, loss: m.loss } });
    } else if (m.type === 'phase') {
      if (m.phase === 'train') job.emit({ event: 'training', data: { detail: m.detail } });
      if (m.phase === 'validate') {
        if (this.running?.job === job) this.running.validating = true;
        job.expert = m.detail;
        job.emit({ event: 'evaluating', data: { expert: m.detail } });
      }
    } else if (m.type === 'result') {
      job.result = m.result;
      this.verdicts(job, m.result);
    } else if (m.code !== 'MINE_CANCELLED') {
      job.error = { code: m.code, message: m.message };
    }
  }

  /** The `accepted` / `rejected` events, and refusals into the node's record. */
  private verdicts(job: MiningJob, r: MineResult): void {
    for (const d of r.deltas) {
      job.expert = d.component;
      if (d.accepted && d.result !== undefined) {
        const v = d.result;
        job.emit({
          event: 'accepted',
          data: {
            expert: d.component,
            block: d.block,
            improvement: v.improvement,
            baseLoss: v.baseLoss,
            newLoss: v.newLoss,
            norm: v.norm,
            deltaBytes: d.deltaBytes,
            rawBytes: d.rawBytes,
            stepScale: d.stepScale,
            snapshot: d.snapshot,
            dryRun: job.settings.dryRun,
          },
        });
        continue;
      }
      const code = d.rejection?.code ?? 'INTERNAL';
      const message = d.rejection?.message ?? 'rejected';
      this.rejections.add({ code, message, model: r.model, expert: d.component, block: d.block, miner: r.miner, source: 'mine', jobId: job.id, time: Date.now() });
      job.emit({ event: 'rejected', data: { code, message, expert: d.component, block: d.block } });
    }
  }

  /**
   * Asks the running job to stop at its next step. A training step that takes longer than CANCEL_GRACE_MS has
   * its thread stopped outright; a validation never is, since it may be appending the delta, and a thread
   * stopped inside an LMDB write transaction would leave the store's write lock held. It ends on its own.
   */
  async cancel(id: string): Promise<MiningJob> {
    const job = this.get(id);
    const r = this.running;
    if (r === undefined || r.job !== job) return job;
    Atomics.store(r.cancel, 0, 1);
    const timer = setTimeout(() => {
      if (!r.validating) void r.worker.terminate();
    }, CANCEL_GRACE_MS);
    await r.exited;
    clearTimeout(timer);
    return job;
  }

  /** Cancels the running job (node stop); new jobs are refused from now on. */
  async close(): Promise<void> {
    this.closed = true;
    const r = this.running;
    if (r !== undefined) await this.cancel(r.job.id);
  }
}
