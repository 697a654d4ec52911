import type { BlockStore } from '../chain/store.ts';
import { RejectedDeltas } from '../learning/rejectedDeltas.ts';
import { MiningJobs } from './miningJobs.ts';
import { NodeWallet } from './nodeWallet.ts';

/** The node's learning side, as the API uses it: its signing wallet, its mining jobs, its record of refused deltas. */
export interface NodeLearning {
  readonly wallet: NodeWallet;
  readonly jobs: MiningJobs;
  readonly rejections: RejectedDeltas;
}

export function createLearning(store: BlockStore, dataDir: string): NodeLearning {
  const wallet = new NodeWallet(dataDir);
  const rejections = new RejectedDeltas(store);
  return { wallet, rejections, jobs: new MiningJobs(store, dataDir, wallet, rejections) };
}
