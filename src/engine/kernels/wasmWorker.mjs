// A worker thread of the wasm kernels: instantiates the shared module on the shared memory, then waits
// for jobs on the control block (spinning for SPIN_US after each job, then sleeping in Atomics.wait).
import { parentPort, workerData } from 'node:worker_threads';
import { C, runJob } from './wasmJob.mjs';

const { module, memory, ctrlBuffer, id } = workerData;
const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctrl = new Int32Array(ctrlBuffer);
const u32 = new Uint32Array(ctrlBuffer);
parentPort.postMessage('ready');

let seen = 0;
for (;;) {
  let g = Atomics.load(ctrl, C.GEN);
  if (g === seen) {
    const deadline = performance.now() + Atomics.load(ctrl, C.SPIN_US) / 1000;
    for (let i = 1; g === seen; i++) {
      if ((i & 1023) === 0 && performance.now() > deadline) {
        Atomics.wait(ctrl, C.GEN, seen);
      }
      g = Atomics.load(ctrl, C.GEN);
    }
  }
  seen = g;
  if (Atomics.load(ctrl, C.STOP) !== 0) break;
  const offered = g << 2;
  if (Atomics.compareExchange(ctrl, C.OFFER + id, offered, offered + 1) !== offered) continue; // withdrawn
  try {
    runJob(ex, ctrl, u32, id, Atomics.load(ctrl, C.NW));
  } catch {
    Atomics.store(ctrl, C.ERROR, 1); // the caller throws; other threads stop waiting on this one
  }
  if (Atomics.sub(ctrl, C.PENDING, 1) === 1) Atomics.notify(ctrl, C.PENDING);
}
