import type { MineResult } from '../learning/miner.ts';

/**
 * One mining job as the API sees it: its status, and its events for `GET /mine/:id/events`. Events are kept
 * so a client that connects late (or reconnects) gets the story so far; consecutive `progress` events are
 * kept as the latest one only, so the history stays a handful of events whatever the number of steps.
 */
export type JobStatus = 'running' | 'accepted' | 'rejected' | 'failed' | 'cancelled';

export type JobEvent =
  | { readonly event: 'progress'; readonly data: { readonly step: number; readonly steps: number; readonly loss: number } }
  | { readonly event: 'training'; readonly data: { readonly detail: string } }
  | { readonly event: 'evaluating'; readonly data: { readonly expert: string } }
  | { readonly event: 'accepted'; readonly data: Readonly<Record<string, unknown>> }
  | { readonly event: 'rejected'; readonly data: { readonly code: string; readonly message: string; readonly expert: string; readonly block: string } }
  | { readonly event: 'error'; readonly data: { readonly code: string; readonly message: string } }
  | { readonly event: 'done'; readonly data: { readonly status: JobStatus } };

export interface JobSettings {
  /** Model meta block id (hex) and name. */
  readonly model: string;
  readonly modelName: string;
  readonly expert: string | null;
  readonly steps: number;
  readonly lr: number;
  readonly batch: number;
  readonly seed: number | null;
  readonly topK: number | null;
  readonly threads: number;
  readonly dryRun: boolean;
  readonly miner: string;
}

export type JobListener = (e: JobEvent) => void;

export class MiningJob {
  status: JobStatus = 'running';
  step = 0;
  loss: number | null = null;
  /** The expert being trained: as requested, else known once validation starts. */
  expert: string | null;
  result: MineResult | null = null;
  error: { code: string; message: string } | null = null;
  readonly createdAt = Date.now();
  finishedAt: number | null = null;
  private readonly history: JobEvent[] = [];
  private readonly listeners = new Set<JobListener>();

  constructor(
    readonly id: string,
    readonly settings: JobSettings,
  ) {
    this.expert = settings.expert;
  }

  get finished(): boolean {
    return this.status !== 'running';
  }

  emit(e: JobEvent): void {
    const last = this.history.at(-1);
    if (e.event === 'progress' && last?.event === 'progress') this.history[this.history.length - 1] = e;
    else this.history.push(e);
    for (const l of this.listeners) l(e);
  }

  /** The events so far, then every new one through `listener` until `unsubscribe`. */
  subscribe(listener: JobListener): { history: readonly JobEvent[]; unsubscribe: () => void } {
    const history = [...this.history];
    if (!this.finished) this.listeners.add(listener);
    return { history, unsubscribe: () => this.listeners.delete(listener) };
  }

  /** Marks the job finished and tells subscribers (the last event they get). */
  finish(status: JobStatus): void {
    if (this.finished) return;
    this.status = status;
    this.finishedAt = Date.now();
    this.emit({ event: 'done', data: { status } });
    this.listeners.clear();
  }

  view() {
    return {
      jobId: this.id,
      status: this.status,
      ...this.settings,
      expert: this.expert,
      step: this.step,
      loss: this.loss,
      createdAt: this.createdAt,
      finishedAt: this.finishedAt,
      error: this.error,
      result: this.result,
    };
  }
}
