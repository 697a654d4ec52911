/**
 * The learning worker thread: runs one mining job (fine-tune → delta block → Proof-of-Learning validation,
 * src/learning/miner.ts) off the node's event loop, so chat and every other request stay responsive while
 * the CPU trains and evaluates. It opens the data dir's store itself (LMDB serves several threads of one
 * process); an accepted delta is appended by validateDelta through the store's normal verified append.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openStore } from '../cli/openStore.ts';
import { loadKernels } from '../engine/kernels/index.ts';
import { resolveModel } from '../engine/modelRegistry.ts';
import { isBlyanError } from '../errors.ts';
import { loadGemm } from '../learning/gemm/index.ts';
import { mine } from '../learning/miner.ts';
import type { MineTask, WorkerEvent } from './learningMessages.ts';

class Cancelled extends Error {}

function post(e: WorkerEvent): void {
  parentPort?.postMessage(e);
}

async function run(task: MineTask): Promise<void> {
  const cancel = new Int32Array(task.cancel);
  // Checked at every step and phase: training cannot be interrupted in the middle of a step, but it
  // stops long before the delta is built, so a cancelled job never appends anything.
  const check = () => {
    if (Atomics.load(cancel, 0) !== 0) throw new Cancelled('cancelled');
  };
  const store = openStore(task.dataDir);
  try {
    const model = resolveModel(store, task.model);
    const kernels = await loadKernels({ threads: task.threads });
    try {
      const gemm = await loadGemm({ threads: task.threads });
      try {
        check();
        const result = await mine({
          store,
          model,
          kernels,
          gemm,
          privateKey: task.privateKey,
          steps: task.steps,
          lr: task.lr,
          batch: task.batch,
          ...(task.expert === undefined ? {} : { experts: [task.expert] }),
          ...(task.seed === undefined ? {} : { seed: task.seed }),
          ...(task.topK === undefined ? {} : { topKPerRow: task.topK }),
          ...(task.dryRun ? { dryRun: true } : {}),
          onStep: (step, loss) => {
            post({ type: 'progress', step, loss });
            check();
          },
          onPhase: (phase, detail) => {
            check();
            post({ type: 'phase', phase, detail });
          },
        });
        post({ type: 'result', result });
      } finally {
        await gemm.close();
      }
    } finally {
      await kernels.close();
    }
  } finally {
    await store.close();
  }
}

try {
  await run(workerData as MineTask);
} catch (err) {
  if (err instanceof Cancelled) post({ type: 'error', code: 'MINE_CANCELLED', message: 'the mining job was cancelled' });
  else if (isBlyanError(err)) post({ type: 'error', code: err.code, message: err.message });
  else post({ type: 'error', code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) });
}
