import type { MineResult } from '../learning/miner.ts';

/**
 * What the node and its learning worker (learningWorker.ts) say to each other. Both sides are our own
 * code in one process, so these are plain types, not a validated wire format.
 */

/** The job handed to the worker: everything `blyan mine` would take from its flags, already checked. */
export interface MineTask {
  readonly dataDir: string;
  /** Model meta block id (hex). */
  readonly model: string;
  readonly expert?: string;
  readonly privateKey: Uint8Array;
  readonly steps: number;
  readonly lr: number;
  readonly batch: number;
  readonly seed?: number;
  readonly topK?: number;
  readonly threads: number;
  readonly dryRun: boolean;
  /** Int32Array[1] over a SharedArrayBuffer: set to 1 by the node to cancel at the next step or phase. */
  readonly cancel: SharedArrayBuffer;
}

export type WorkerEvent =
  | { readonly type: 'progress'; readonly step: number; readonly loss: number }
  | { readonly type: 'phase'; readonly phase: 'shard' | 'train' | 'validate'; readonly detail: string }
  | { readonly type: 'result'; readonly result: MineResult }
  | { readonly type: 'error'; readonly code: string; readonly message: string };
