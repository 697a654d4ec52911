/**
 * Child process of the two-process determinism test (evaluate.test.ts): opens the store, validates the delta
 * in dry-run mode with whatever kernels BLYAN_KERNELS / BLYAN_THREADS select, prints the loss bits as JSON.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRecord } from '../../src/chain/encoding.ts';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { loadKernels } from '../../src/engine/kernels/index.ts';
import { validateDelta } from '../../src/learning/pol.ts';

const dir = process.argv[2] as string;
const store = BlockStore.open(dir, TINY);
const kernels = await loadKernels();
try {
  const block = decodeRecord(new Uint8Array(readFileSync(join(dir, 'delta.record'))));
  const payload = new Uint8Array(readFileSync(join(dir, 'delta.payload')));
  const r = await validateDelta({ store, kernels, now: block.header.time + 1000 }, block, payload, { dryRun: true });
  process.stdout.write(`${JSON.stringify({ kernels: kernels.name, isa: kernels.isa, threads: kernels.threads, bits: r.bits, evalMs: r.evalMs })}\n`);
} finally {
  await kernels.close();
  await store.close();
}
