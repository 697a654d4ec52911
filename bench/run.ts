// `npm run bench`: runs every benchmark and prints one JSON object per line.
// Numbers are for comparison within one run; these machines are shared and noisy.
import { benchApi } from './api.bench.ts';
import { benchChain } from './chain.bench.ts';
import { benchDistributed } from './distributed.bench.ts';
import { benchEngine } from './engine.bench.ts';
import { benchGemm } from './gemm.bench.ts';
import { benchKernels } from './kernels.bench.ts';
import { benchLedger } from './ledger.bench.ts';
import { benchJoin } from './join.bench.ts';
import { benchP2p } from './p2p.bench.ts';
import { benchTrain } from './train.bench.ts';
import { benchValidate } from './validate.bench.ts';

const benches: Record<string, () => Promise<Record<string, unknown>>> = { chain: benchChain, engine: () => benchEngine(), kernels: () => benchKernels(), gemm: benchGemm, ledger: benchLedger, train: () => benchTrain(), validate: () => benchValidate(), api: benchApi, p2p: benchP2p, join: benchJoin, distributed: () => benchDistributed() };
const only = process.argv.slice(2);
for (const [name, run] of Object.entries(benches)) {
  if (only.length > 0 && !only.includes(name)) continue;
  process.stdout.write(`${JSON.stringify(await run())}\n`);
}
