import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import { PgLedgerStore } from '../../src/ledger/pgStore.ts';
import { tempDir } from '../helpers/fixtures.ts';
import type { PgServer } from '../helpers/postgres.ts';
import { type EnvOptions, type LedgerEnv, PARAMS, T0, user } from './helpers.ts';

let dbSeq = 0;

/** A fresh PostgreSQL database per ledger, on a server the test file started; the process's block store is a temp dir. */
export function pgEnv(server: () => PgServer): (opts?: EnvOptions) => Promise<LedgerEnv & { readonly url: string }> {
  return async (opts = {}) => {
    const url = await server().createDatabase(`ledger_${process.pid}_${++dbSeq}`);
    const store = await PgLedgerStore.open({ url, preset: TINY, params: opts.params ?? PARAMS });
    const { dir, cleanup } = tempDir('blyan-ledger-pg-');
    const { store: blocks } = BlockStore.init(dir, TINY);
    const clock = { now: T0 };
    const ledger = Ledger.over(store, blocks, { producerKey: user('producer').key, now: () => clock.now, ...(opts.maxBatch === undefined ? {} : { maxBatch: opts.maxBatch }) });
    return {
      url,
      ledger,
      clock,
      close: async () => {
        await store.close();
        await blocks.close();
        cleanup();
      },
    };
  };
}
