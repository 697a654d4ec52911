// `npm install` runs `node-gyp rebuild` for every target of binding.gyp; make stops at the first failure,
// so a machine without libsecp256k1-dev would also lose the kernels. After a failed rebuild this builds
// the blyan_kernels target alone (it needs only a C compiler) and says what happened. Never fails.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const makefile = join(root, 'build', 'Makefile');
let ok = false;
if (existsSync(makefile)) {
  const r = spawnSync('make', ['-C', join(root, 'build'), 'BUILDTYPE=Release', 'blyan_kernels', 'blyan_process'], { stdio: 'inherit' });
  ok = r.status === 0;
}
process.stderr.write(
  ok
    ? 'blyan: built the native kernels alone (build/Release/blyan_kernels.node)\n'
    : 'blyan: native kernels not built (needs gcc or clang, make, python3); the WebAssembly kernels will be used\n',
);
