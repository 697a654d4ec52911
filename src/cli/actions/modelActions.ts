import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { BlockStore } from '../../chain/store.ts';
import { readDataset, resolveDataset } from '../../datasets/registry.ts';
import { generate } from '../../engine/generate.ts';
import type { ValidationSpec } from '../../engine/modelMeta.ts';
import { validationWindows } from '../../learning/validationWindows.ts';
import type { ImportFlags } from '../commands/model.ts';
import { exportCheckpoint } from '../../engine/export/exportCheckpoint.ts';
import { importCheckpoint } from '../../engine/import/importCheckpoint.ts';
import { listModels, resolveModel } from '../../engine/modelRegistry.ts';
import { Sampler } from '../../engine/sampler.ts';
import { loadTokenizer } from '../../engine/tokenizer.ts';
import { BlyanError } from '../../errors.ts';
import { unlockWallet } from '../../wallet/signer.ts';
import { resolveDataDir } from '../dataDir.ts';
import { type EngineOptions, openEngine, parseIds, parsePositiveInt } from '../engineContext.ts';
import { openStore } from '../openStore.ts';
import { note, printJson, printLine } from '../output.ts';
import { progressBar } from '../progress.ts';
import { type SamplingFlags, samplingFrom } from '../samplingFlags.ts';

/** The work behind `blyan import` and `blyan model …`, loaded only when one of them runs. */

function toArray(logits: Float32Array, rows: number, vocab: number): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from(logits.subarray(r * vocab, (r + 1) * vocab)));
}

export async function importAction(dir: string, opts: ImportFlags): Promise<void> {
      const dataDir = resolveDataDir(opts.data);
      const store = openStore(dataDir);
      try {
        const validation = opts.validationDataset === undefined ? undefined : validationSpecFor(store, dir, opts);
        const wallet = await unlockWallet(dataDir, opts.address === undefined ? {} : { address: opts.address });
        let bar: ReturnType<typeof progressBar> | undefined;
        const summary = importCheckpoint(store, dir, {
          privateKey: wallet.privateKey,
          ...(opts.name === undefined ? {} : { name: opts.name }),
          ...(validation === undefined ? {} : { validation }),
          onProgress: (done, total) => {
            bar ??= progressBar('importing', total, { quiet: opts.json === true, unit: 'components' });
            bar.update(done);
          },
        });
        bar?.stop();
        if (opts.json === true) printJson(summary);
        else {
          printLine(`model ${summary.name} (${summary.architecture}) → ${summary.model}`);
          printLine(`blocks: 1 meta, ${summary.blocks.base} base, ${summary.blocks.router} router, ${summary.blocks.expert} expert; ${summary.written} written, ${(summary.payloadBytes / 1e6).toFixed(1)} MB`);
        }
      } finally {
        await store.close();
      }
}

export async function listAction(opts: { data?: string; json?: boolean }): Promise<void> {
      const store = openStore(resolveDataDir(opts.data));
      try {
        const rows = listModels(store).map((m) => {
          const c = m.meta.config;
          return {
            name: m.meta.name,
            model: m.idHex,
            family: c.family,
            architecture: c.architecture,
            layers: c.numLayers,
            experts: c.numExperts,
            topK: c.topK,
            hiddenSize: c.hiddenSize,
            vocabSize: c.vocabSize,
            tokenizer: m.meta.tokenizer !== null,
          };
        });
        if (opts.json === true) printJson(rows);
        else if (rows.length === 0) note('no models yet: `blyan import DIR`');
        else for (const r of rows) printLine(`${r.name.padEnd(24)} ${r.architecture.padEnd(22)} ${r.layers} layers × ${r.experts} experts (top-${r.topK})  ${r.model}`);
      } finally {
        await store.close();
      }
}

export async function forwardAction(opts: EngineOptions & { ids: string; json?: boolean }): Promise<void> {
      const ids = parseIds(opts.ids);
      const ctx = await openEngine(opts);
      try {
        const r = await ctx.model.newSession().forward(ids, { allLogits: true });
        printJson({ model: ctx.entry.idHex, logits: toArray(r.logits, ids.length, ctx.entry.meta.config.vocabSize), experts: r.experts });
      } finally {
        await ctx.close();
      }
}

export async function generateAction(opts: EngineOptions & SamplingFlags & { ids?: string; prompt?: string; maxNewTokens: string; cache: boolean; json?: boolean }): Promise<void> {
      if ((opts.ids === undefined) === (opts.prompt === undefined)) throw new BlyanError('BAD_ARGUMENT', 'give exactly one of --ids or --prompt');
      const maxNew = parsePositiveInt(opts.maxNewTokens, '--max-new-tokens', 32);
      const sampler = new Sampler(samplingFrom(opts));
      const ctx = await openEngine(opts);
      try {
        const tokenizer = opts.prompt === undefined ? null : await loadTokenizer(ctx.store, ctx.entry);
        const prompt = opts.ids !== undefined ? parseIds(opts.ids) : (tokenizer as NonNullable<typeof tokenizer>).encode(opts.prompt as string);
        const r = await generate(ctx.model.newSession(), prompt, sampler, {
          maxNewTokens: maxNew,
          noCache: !opts.cache,
          newSession: () => ctx.model.newSession(),
        });
        const text = tokenizer === null ? undefined : tokenizer.decode(r.ids);
        if (opts.json === true) {
          printJson({
            model: ctx.entry.idHex,
            ids: r.ids,
            experts: r.experts,
            ...(text === undefined ? {} : { text }),
            decodeTokensPerSecond: r.ids.length / (r.decodeMs / 1000),
            prefillMs: r.prefillMs,
            decodeMs: r.decodeMs,
          });
        } else printLine(text ?? r.ids.join(','));
      } finally {
        await ctx.close();
      }
}

export async function exportAction(dir: string, opts: { model?: string; data?: string; json?: boolean }): Promise<void> {
      const store = openStore(resolveDataDir(opts.data));
      try {
        const entry = resolveModel(store, opts.model);
        const result = exportCheckpoint(store, entry, dir);
        if (opts.json === true) printJson({ model: entry.idHex, dir, ...result });
        else printLine(`wrote ${result.files.join(', ')} to ${dir}`);
      } finally {
        await store.close();
      }
}

const DECIMAL = /^(0|[1-9]\d*)(\.\d+)?$/;

/** The meta block's validation set from the import flags: windows over the last 10% of the dataset's tokens. */
function validationSpecFor(store: BlockStore, dir: string, opts: ImportFlags): ValidationSpec {
  const entry = resolveDataset(store, opts.validationDataset as string);
  const tokFile = join(dir, 'tokenizer.json');
  if (!existsSync(tokFile)) {
    throw new BlyanError('BAD_ARGUMENT', `--validation-dataset needs the checkpoint's tokenizer.json to cut the dataset into tokens; ${dir} has none`);
  }
  const cfgFile = join(dir, 'tokenizer_config.json');
  const tok = new Tokenizer(JSON.parse(readFileSync(tokFile, 'utf8')) as never, (existsSync(cfgFile) ? JSON.parse(readFileSync(cfgFile, 'utf8')) : {}) as never);
  const { content } = readDataset(store, entry.id);
  const tokens = tok.encode(new TextDecoder('utf-8', { fatal: false }).decode(content)).ids.length;
  const hf = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { max_position_embeddings?: unknown };
  const maxPos = typeof hf.max_position_embeddings === 'number' ? hf.max_position_embeddings : 129;
  const windows = parsePositiveInt(opts.validationWindows, '--validation-windows', 64);
  const context = parsePositiveInt(opts.validationContext, '--validation-context', Math.min(128, maxPos - 1));
  for (const [flag, v] of [['--delta', opts.delta ?? '0.0005'], ['--delta-norm-limit', opts.deltaNormLimit ?? '16']] as const) {
    if (!DECIMAL.test(v) || Number(v) <= 0) throw new BlyanError('BAD_ARGUMENT', `${flag} must be a positive decimal number like 0.0005, got "${v}"`);
  }
  return {
    dataset: entry.idHex,
    offsets: validationWindows(tokens, windows, context),
    batchSize: Math.min(32, windows),
    context,
    delta: opts.delta ?? '0.0005',
    deltaNormLimit: opts.deltaNormLimit ?? '16',
    tokenizer: 'model',
  };
}
