/**
 * src/chain/mallocTuning.ts: opening a store raises glibc's mmap and trim thresholds once per process (through
 * the blyan_process addon), so LMDB's large write buffers are reused instead of page-faulted in afresh for every
 * payload; the operator can opt out, and settings of their own in $GLIBC_TUNABLES win. Its effect on sync speed
 * is measured by `npm run bench p2p` (syncFaults), not asserted here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { BlockStore } from '../../src/chain/store.ts';
import { TINY } from '../../src/chain/presets.ts';
import { tuneMallocForLmdb } from '../../src/chain/mallocTuning.ts';
import { tempDir } from '../helpers/fixtures.ts';

/** In a fresh process: open a store, then report whether the thresholds were applied. */
function appliedIn(env: Record<string, string>): boolean {
  const t = tempDir('blyan-malloc-');
  try {
    const script = `import { BlockStore } from './src/chain/store.ts'; import { TINY } from './src/chain/presets.ts'; import { tuneMallocForLmdb } from './src/chain/mallocTuning.ts';
      BlockStore.init(${JSON.stringify(t.dir)}, TINY).store.closeSync(); process.stdout.write(String(tuneMallocForLmdb()));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, BLYAN_MALLOC_TUNING: '', GLIBC_TUNABLES: '', ...env }, encoding: 'utf8' });
    return out.trim() === 'true';
  } finally {
    t.cleanup();
  }
}

test('opening a store tunes malloc once (glibc, addon built); BLYAN_MALLOC_TUNING=0 and GLIBC_TUNABLES malloc settings leave it alone', () => {
  const t = tempDir('blyan-malloc-here-');
  try {
    BlockStore.init(t.dir, TINY).store.closeSync();
    assert.equal(tuneMallocForLmdb(), true, 'applied on Linux/glibc with build/Release/blyan_process.node');
  } finally {
    t.cleanup();
  }
  assert.equal(appliedIn({}), true);
  assert.equal(appliedIn({ BLYAN_MALLOC_TUNING: '0' }), false);
  assert.equal(appliedIn({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1000000' }), false);
});
