// `npm run bench`: runs every benchmark and prints one JSON object per line.
// Numbers are for comparison within one run; these machines are shared and noisy.
import { benchChain } from './chain.bench.ts';

const benches: Record<string, () => Promise<Record<string, unknown>>> = { chain: benchChain };
const only = process.argv.slice(2);
for (const [name, run] of Object.entries(benches)) {
  if (only.length > 0 && !only.includes(name)) continue;
  process.stdout.write(`${JSON.stringify(await run())}\n`);
}
