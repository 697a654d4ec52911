import { fromHex, type Hash, toHex } from '../../chain/hash.ts';
import type { BlockStore } from '../../chain/store.ts';
import { resolveModel } from '../../engine/modelRegistry.ts';
import { BlyanError } from '../../errors.ts';
import { rollbackComponent } from '../../learning/lineageRollback.ts';
import { unlockWallet } from '../../wallet/signer.ts';
import { resolveDataDir } from '../dataDir.ts';
import { openStore } from '../openStore.ts';
import { printJson, printLine } from '../output.ts';

/** `--to` as a full block id or a unique hex prefix (≥ 8 digits) among the component's versions. */
function resolveVersion(store: BlockStore, model: Hash, component: string, ref: string): Hash {
  const clean = ref.toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]{8,64}$/.test(clean)) throw new BlyanError('BAD_ARGUMENT', `--to must be a block id (hex, at least 8 digits), got "${ref}"`);
  const matches = store.lineage(model, component).filter((v) => toHex(v).startsWith(clean));
  if (matches.length === 0) throw new BlyanError('NOT_FOUND', `no version of ${component} starts with ${clean}`);
  if (matches.length > 1) throw new BlyanError('BAD_ARGUMENT', `${clean} matches ${matches.length} versions of ${component}; give more digits`);
  return fromHex(toHex(matches[0] as Hash), 32);
}

/** `blyan model rollback EXPERT --to VERSION`: a new snapshot block restoring that version (history kept). */
export async function rollbackAction(component: string, opts: { to: string; model?: string; address?: string; data?: string; json?: boolean }): Promise<void> {
  const dataDir = resolveDataDir(opts.data);
  const store = openStore(dataDir);
  try {
    const entry = resolveModel(store, opts.model);
    const to = resolveVersion(store, entry.id, component, opts.to);
    const wallet = await unlockWallet(dataDir, opts.address === undefined ? {} : { address: opts.address });
    const r = rollbackComponent({ store, model: entry, component, to, signer: wallet.privateKey });
    const out = { model: entry.idHex, component, from: toHex(r.from), to: toHex(r.to), block: toHex(r.block.id), versions: store.lineage(entry.id, component).length };
    if (opts.json === true) printJson(out);
    else printLine(`${component}: restored ${out.to.slice(0, 16)}… as snapshot ${out.block} (was ${out.from.slice(0, 16)}…)`);
  } finally {
    await store.close();
  }
}
