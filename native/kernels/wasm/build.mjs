// Builds kernels.ts into out/kernels.wasm with the AssemblyScript compiler from node_modules (offline).
// Run by `npm run build:wasm` (part of `npm install`). SIMD is required; relaxed SIMD is not used: Node 20
// has it only behind --experimental-wasm-relaxed-simd, and its fused multiply-add may or may not round
// once, which would break the bitwise agreement between the kernels.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, 'out'), { recursive: true });
const { error, stderr } = await asc.main([
  join(here, 'kernels.ts'),
  '-O3',
  '--runtime', 'stub',
  '--noAssert',
  '--enable', 'simd,threads',
  '--importMemory',
  '--sharedMemory',
  '--initialMemory', '1',
  '--maximumMemory', '65536',
  '--outFile', join(here, 'out', 'kernels.wasm'),
]);
if (error) {
  process.stderr.write(`${stderr.toString()}\nblyan: building the wasm kernels failed: ${error.message}\n`);
  process.exit(1);
}
process.stdout.write(`blyan: built ${join(here, 'out', 'kernels.wasm')}\n`);

// The training GEMM (gemm.ts, src/learning/gemm/wasm.ts): single-threaded, its own unshared memory.
const gemm = await asc.main([
  join(here, 'gemm.ts'),
  '-O3',
  '--runtime', 'stub',
  '--noAssert',
  '--enable', 'simd',
  '--importMemory',
  '--initialMemory', '1',
  '--maximumMemory', '65536',
  '--outFile', join(here, 'out', 'gemm.wasm'),
]);
if (gemm.error) {
  process.stderr.write(`${gemm.stderr.toString()}\nblyan: building the wasm gemm failed: ${gemm.error.message}\n`);
  process.exit(1);
}
process.stdout.write(`blyan: built ${join(here, 'out', 'gemm.wasm')}\n`);
