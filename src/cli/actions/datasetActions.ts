import { closeSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { z } from 'zod';
import { formatAddress, parseAddress } from '../../chain/address.ts';
import { sha256, toHex } from '../../chain/hash.ts';
import type { BlockStore } from '../../chain/store.ts';
import { createDatasetBlock, DATASET_TIERS, LICENSE_PATTERN } from '../../datasets/datasetBlock.ts';
import { datasetLimits } from '../../datasets/limits.ts';
import { prefilter } from '../../datasets/prefilter.ts';
import { rejectionError } from '../../datasets/rejection.ts';
import { hasDatasetContent, listDatasets, readDataset, resolveDataset } from '../../datasets/registry.ts';
import { shardBytes, shardFor } from '../../datasets/sharding.ts';
import { BlyanError } from '../../errors.ts';
import { unlockWallet } from '../../wallet/signer.ts';
import type { DatasetDataOpts } from '../commands/dataset.ts';
import { resolveDataDir } from '../dataDir.ts';
import { openStore } from '../openStore.ts';
import { note, printJson, printLine } from '../output.ts';
import { progressBar } from '../progress.ts';
import { entryView, formatReport, formatSize, metaView, shardView } from './datasetView.ts';

/** The work behind `blyan dataset …`, loaded only when one of them runs. */

const READ_BLOCK = 4 * 1024 * 1024;

const AddFlags = z.object({
  tier: z.enum(DATASET_TIERS, { error: () => `--tier must be one of ${DATASET_TIERS.join(', ')}` }),
  license: z.string().max(200).regex(LICENSE_PATTERN, '--license must be an SPDX expression such as MIT, CC-BY-4.0 or NOASSERTION'),
  pii: z.enum(['redact', 'reject'], { error: () => '--pii must be redact or reject' }),
  name: z.string().optional(),
});

function parseFlags<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new BlyanError('BAD_ARGUMENT', parsed.error.issues[0]?.message ?? 'bad arguments');
  return parsed.data;
}

async function withStore<T>(opts: DatasetDataOpts, fn: (store: BlockStore, dataDir: string) => Promise<T> | T): Promise<T> {
  const dataDir = resolveDataDir(opts.data ?? opts.dataDir);
  const store = openStore(dataDir);
  try {
    return await fn(store, dataDir);
  } finally {
    await store.close();
  }
}

/** Reads a file in blocks, with a progress bar for large ones. */
function readWithProgress(file: string, size: number, quiet: boolean): Uint8Array {
  const out = new Uint8Array(size);
  const bar = progressBar('reading', size, { quiet: quiet || size < 8 * READ_BLOCK, unit: 'bytes' });
  const fd = openSync(file, 'r');
  try {
    let off = 0;
    while (off < size) {
      const n = readSync(fd, out, off, Math.min(READ_BLOCK, size - off), off);
      if (n === 0) throw new BlyanError('IO_ERROR', `${file} shrank while it was being read`);
      off += n;
      bar.update(off);
    }
  } finally {
    closeSync(fd);
    bar.stop();
  }
  return out;
}

/** Writes a file that must not exist yet (flag wx), so `--out` never overwrites anything. */
function writeNew(file: string, bytes: Uint8Array): void {
  try {
    writeFileSync(file, bytes, { flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BlyanError('IO_ERROR', code === 'EEXIST' ? `${file} already exists: choose another --out` : `cannot write ${file}: ${(err as Error).message}`);
  }
}

function statFile(file: string): number {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch {
    throw new BlyanError('IO_ERROR', `cannot read ${file}: no such file`);
  }
  if (!st.isFile()) throw new BlyanError('IO_ERROR', `${file} is not a regular file`);
  return st.size;
}

export async function addAction(
  file: string,
  opts: DatasetDataOpts & { tier: string; license: string; name?: string; pii: string; wallet?: string; address?: string },
): Promise<void> {
  const flags = parseFlags(AddFlags, opts);
  const quiet = opts.json === true;
  await withStore(opts, async (store, dataDir) => {
    const limits = datasetLimits(store.preset.name);
    const size = statFile(file);
    // Z1 early: never read a file that is over the limit.
    if (size > limits.maxBytes) {
      throw new BlyanError('DATASET_TOO_LARGE', `${file} is ${size} bytes; the ${store.preset.name} limit is ${limits.maxBytes}`, { size, maxBytes: limits.maxBytes });
    }
    const input = readWithProgress(file, size, quiet);
    const known = listDatasets(store);
    const result = prefilter(input, { limits, pii: flags.pii, isDuplicate: (h) => hasDatasetContent(known, h) });
    if (result.rejection !== null) throw rejectionError(result.rejection);

    const address = opts.wallet ?? opts.address;
    const wallet = await unlockWallet(dataDir, address === undefined ? {} : { address });
    let bar: ReturnType<typeof progressBar> | undefined;
    const created = createDatasetBlock(
      store,
      { name: flags.name ?? basename(file), tier: flags.tier, license: flags.license, chunkSize: limits.chunkSize, content: result.content, report: result.report },
      wallet.privateKey,
      {
        onProgress: (done, total) => {
          bar ??= progressBar('hashing', total, { quiet: quiet || total < 8 * READ_BLOCK, unit: 'bytes' });
          bar.update(done);
        },
      },
    );
    bar?.stop();
    const view = entryView({ idHex: toHex(created.block.id), index: created.block.header.index, block: created.block, meta: created.meta });
    if (opts.json === true) printJson(view);
    else {
      printLine(`dataset ${view.name} (${view.tier}, ${view.license}) → D:${view.index} ${view.id}`);
      printLine(`${formatSize(view.size)} in ${view.chunks} chunks of ${formatSize(view.chunkSize)}; ${formatReport(created.meta.report)}`);
    }
  });
}

export async function listAction(opts: DatasetDataOpts): Promise<void> {
  await withStore(opts, (store) => {
    let skipped = 0;
    const rows = listDatasets(store, () => skipped++).map(entryView);
    if (skipped > 0) note(`${skipped} dataset block(s) with a malformed payload skipped`);
    if (opts.json === true) return printJson(rows);
    if (rows.length === 0) return note('no datasets yet: `blyan dataset add FILE`');
    for (const r of rows) {
      printLine(`D:${String(r.index).padEnd(5)} ${r.tier.padEnd(12)} ${r.name.slice(0, 28).padEnd(28)} ${formatSize(r.size).padStart(10)}  ${r.id}`);
    }
  });
}

const ShowFlags = z.object({
  round: z.string().regex(/^\d{1,15}$/, '--round must be a whole number ≥ 0').transform(Number),
  miner: z.string(),
  shards: z
    .string()
    .regex(/^[1-9]\d{0,9}$/, '--shards must be a whole number ≥ 1')
    .transform(Number)
    .optional(),
});

export async function showAction(
  ref: string,
  opts: DatasetDataOpts & { shard?: boolean; miner?: string; round?: string; shards?: string; chunks?: boolean; out?: string },
): Promise<void> {
  if (opts.shard !== true && (opts.miner !== undefined || opts.round !== undefined || opts.shards !== undefined)) {
    throw new BlyanError('BAD_ARGUMENT', '--miner, --round and --shards go with --shard');
  }
  if (opts.shard === true && (opts.miner === undefined || opts.round === undefined)) {
    throw new BlyanError('BAD_ARGUMENT', '--shard needs --miner ADDRESS and --round N');
  }
  await withStore(opts, (store) => {
    const entry = resolveDataset(store, ref);
    const view: Record<string, unknown> = { ...entryView(entry) };
    if (opts.chunks === true) view.chunkHashes = entry.meta.chunks.map(toHex);
    let bytes: Uint8Array | undefined;
    if (opts.shard === true) {
      const flags = parseFlags(ShowFlags, opts);
      const miner = parseAddress(flags.miner);
      const shard = shardFor({ id: entry.id, size: entry.meta.size, chunkSize: entry.meta.chunkSize }, miner, flags.round, flags.shards);
      bytes = shardBytes(readDataset(store, entry.id).content, shard);
      view.shard = shardView(shard, formatAddress(miner), bytes, sha256(bytes));
    }
    if (opts.out !== undefined) {
      bytes ??= readDataset(store, entry.id).content;
      writeNew(opts.out, bytes);
      view.out = { file: opts.out, bytes: bytes.byteLength };
    }
    if (opts.json === true) return printJson(view);
    const meta = metaView(entry.meta);
    printLine(`id          ${entry.idHex} (D:${entry.index})`);
    printLine(`name        ${meta.name}`);
    printLine(`tier        ${meta.tier}`);
    printLine(`license     ${meta.license}`);
    printLine(`media type  ${meta.mediaType}`);
    printLine(`size        ${meta.size} (${formatSize(meta.size)})`);
    printLine(`sha256      ${meta.sha256}`);
    printLine(`chunks      ${meta.chunks} × ${formatSize(meta.chunkSize)}`);
    printLine(`author      ${view.author as string}`);
    printLine(`time        ${view.time as string}`);
    printLine(`L0          ${formatReport(entry.meta.report)}`);
    if (Array.isArray(view.chunkHashes)) for (const [i, h] of view.chunkHashes.entries()) printLine(`chunk ${String(i).padStart(5)}  ${String(h)}`);
    if (opts.out !== undefined) note(`wrote ${bytes?.byteLength ?? 0} bytes to ${opts.out}`);
    const s = view.shard as ReturnType<typeof shardView> | undefined;
    if (s !== undefined) {
      printLine(`shard       ${s.index} of ${s.shards} for ${s.miner} in round ${s.round}`);
      printLine(`            chunks ${s.chunkStart}…${s.chunkEnd - 1}, bytes ${s.byteStart}…${s.byteEnd} (${formatSize(s.size)}), sha256 ${s.sha256}`);
    }
  });
}
