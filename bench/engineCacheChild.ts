// Child of engine.bench.ts: runs generation with an expert-cache budget smaller than the model and
// reports cache statistics and this process's peak RSS.
import { DEVNET } from '../src/chain/presets.ts';
import { BlockStore } from '../src/chain/store.ts';
import { generate } from '../src/engine/generate.ts';
import { loadKernels } from '../src/engine/kernels/index.ts';
import { LocalExpertSource } from '../src/engine/localSource.ts';
import { resolveModel } from '../src/engine/modelRegistry.ts';
import { MoeModel } from '../src/engine/moe.ts';
import { Sampler } from '../src/engine/sampler.ts';

const [dir, mb] = process.argv.slice(2);
const store = BlockStore.open(dir as string, DEVNET);
const entry = resolveModel(store);
const kernels = await loadKernels({ threads: 2 });
const model = await MoeModel.load(entry.meta.config, new LocalExpertSource(store, entry), kernels, { cacheBytes: Number(mb) * 1024 * 1024 });
const t = performance.now();
const g = await generate(model.newSession(), [1, 2, 3, 4, 5, 6, 7, 8], new Sampler({ greedy: true }), { maxNewTokens: 64 });
const s = model.experts.stats();
process.stdout.write(
  `${JSON.stringify({
    budgetMB: Number(mb),
    tokens: g.ids.length,
    decodeTokPerSec: Number((g.ids.length / (g.decodeMs / 1000)).toFixed(2)),
    seconds: Number(((performance.now() - t) / 1000).toFixed(2)),
    hitRate: Number((s.hits / (s.hits + s.misses)).toFixed(3)),
    ...s,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  })}\n`,
);
await kernels.close();
await store.close();
