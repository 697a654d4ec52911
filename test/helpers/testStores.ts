import { after } from 'node:test';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { tempDir } from './fixtures.ts';

/**
 * What a test file starts and must stop: `stops` run in reverse order (nodes before the stores they use), then
 * `cleanups` (temp dirs), after the file's last test. `freshStore` makes a tiny-network store in a temp dir
 * registered with both.
 */
export function testResources(): {
  readonly stops: (() => Promise<unknown>)[];
  readonly cleanups: (() => void)[];
  freshStore(prefix: string): { store: BlockStore; dir: string };
} {
  const stops: (() => Promise<unknown>)[] = [];
  const cleanups: (() => void)[] = [];
  after(async () => {
    for (const s of stops.reverse()) await s();
    for (const c of cleanups) c();
  });
  return {
    stops,
    cleanups,
    freshStore(prefix) {
      const t = tempDir(prefix);
      cleanups.push(t.cleanup);
      const { store } = BlockStore.init(t.dir, TINY);
      stops.push(() => store.close());
      return { store, dir: t.dir };
    },
  };
}
