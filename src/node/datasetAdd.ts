import { toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import { entryView, reportView } from '../cli/actions/datasetView.ts';
import { createDatasetBlock, type DatasetTier } from '../datasets/datasetBlock.ts';
import { datasetLimits } from '../datasets/limits.ts';
import { prefilter } from '../datasets/prefilter.ts';
import type { DatasetRejection } from '../datasets/rejection.ts';
import { hasDatasetContent, listDatasets } from '../datasets/registry.ts';
import type { PiiMode } from '../datasets/report.ts';
import type { NodeWallet } from './nodeWallet.ts';

export interface AddDatasetRequest {
  readonly name: string;
  readonly text: string;
  readonly tier: DatasetTier;
  readonly license: string;
  readonly pii: PiiMode;
  readonly wallet?: string | undefined;
}

export type AddDatasetOutcome =
  | { readonly ok: true; readonly dataset: ReturnType<typeof entryView> }
  | { readonly ok: false; readonly rejection: DatasetRejection; readonly report: ReturnType<typeof reportView> };

/**
 * `blyan dataset add` for the API: the L0 pre-filter, then a dataset block signed by the node's wallet and
 * appended to chain D. The answer has the shape of `blyan dataset add --json` (and of `dataset list --json`).
 * As in the CLI, the wallet is only unlocked once the text has passed, so a refusal needs no wallet.
 */
export async function addDataset(store: BlockStore, wallet: NodeWallet, req: AddDatasetRequest): Promise<AddDatasetOutcome> {
  const limits = datasetLimits(store.preset.name);
  const input = new Uint8Array(Buffer.from(req.text, 'utf8'));
  const known = listDatasets(store);
  const result = prefilter(input, { limits, pii: req.pii, isDuplicate: (h) => hasDatasetContent(known, h) });
  if (result.rejection !== null) return { ok: false, rejection: result.rejection, report: reportView(result.report) };
  const signer = await wallet.unlock(req.wallet);
  // A `blyan` command may have appended to chain D while we ran: build on the head as it is on disk.
  store.refreshHeads();
  const created = createDatasetBlock(
    store,
    { name: req.name, tier: req.tier, license: req.license, chunkSize: limits.chunkSize, content: result.content, report: result.report },
    signer.privateKey,
  );
  return { ok: true, dataset: entryView({ idHex: toHex(created.block.id), index: created.block.header.index, block: created.block, meta: created.meta }) };
}
