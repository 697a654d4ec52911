import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { formatAddress } from '../../chain/address.ts';
import { fromHex, type Hash, toHex } from '../../chain/hash.ts';
import type { BlockStore } from '../../chain/store.ts';
import { type Block, CHAINS, type ChainLetter, isChainLetter } from '../../chain/types.ts';
import { verifyStore } from '../../chain/verifyStore.ts';
import { BlyanError } from '../../errors.ts';
import { resolveDataDir } from '../dataDir.ts';
import { openStore } from '../openStore.ts';
import { note, printJson, printLine } from '../output.ts';
import { progressBar } from '../progress.ts';
import { blockCid } from '../../chain/cid.ts';

interface DataOpts {
  data?: string;
  json?: boolean;
}

async function withStore<T>(opts: DataOpts, fn: (store: BlockStore, dataDir: string) => Promise<T> | T): Promise<T> {
  const dataDir = resolveDataDir(opts.data);
  const store = openStore(dataDir);
  try {
    return await fn(store, dataDir);
  } finally {
    await store.close();
  }
}

/** A block as people and scripts see it: hashes in hex, author as an EIP-55 address. */
export function blockSummary(block: Block, seq: number) {
  const h = block.header;
  return {
    id: toHex(block.id),
    chain: h.chain,
    seq,
    index: h.index,
    type: h.type,
    expert: h.expert,
    layer: h.layer,
    prev: h.prev === null ? null : toHex(h.prev),
    deps: h.deps.map(toHex),
    payloadHash: toHex(h.payloadHash),
    payloadSize: h.payloadSize,
    tileRoot: toHex(h.tileRoot),
    time: new Date(h.time).toISOString(),
    nonce: toHex(h.nonce),
    difficulty: h.difficulty,
    author: formatAddress(h.author),
    sig: toHex(block.sig),
  };
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

function parseChain(text: string): ChainLetter {
  const up = text.toUpperCase();
  if (!isChainLetter(up)) throw new BlyanError('BAD_ARGUMENT', `unknown chain "${text}" (choose A, B, C or D)`);
  return up;
}

function parseCount(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new BlyanError('BAD_ARGUMENT', `${what} must be a whole number ≥ 0, got "${text}"`);
  return n;
}

/** HASH (64 hex digits, optional 0x) or CHAIN:INDEX (chain B: local position). */
function resolveBlockRef(store: BlockStore, ref: string): { id: Hash; seq: number | null } {
  const m = /^([A-Da-d]):(\d+)$/.exec(ref);
  if (m !== null) {
    const chain = parseChain(m[1] as string);
    const seq = parseCount(m[2] as string, 'index');
    const id = store.idAt(chain, seq);
    if (id === undefined) {
      throw new BlyanError('NOT_FOUND', `chain ${chain} has ${store.height(chain)} blocks; there is no ${chain}:${seq}`);
    }
    return { id, seq };
  }
  if (/^(0x)?[0-9a-fA-F]{64}$/.test(ref)) return { id: fromHex(ref, 32), seq: null };
  throw new BlyanError('BAD_ARGUMENT', `"${ref}" is neither a block hash (64 hex digits) nor CHAIN:INDEX like A:0`);
}

export function registerChainCommands(program: Command): void {
  const chain = program.command('chain').description('inspect, verify, export and import the block chains (A meta, B parameters, C ledger, D datasets)');

  chain
    .command('list')
    .description('list blocks, oldest first')
    .option('--chain <letter>', 'only this chain (A, B, C or D)')
    .option('--from <n>', 'start at this position', '0')
    .option('--limit <n>', 'at most this many blocks per chain')
    .option('--data <dir>', 'data directory (default $BLYAN_DATA or ~/.blyan)')
    .option('--json', 'print JSON')
    .action(async (opts: DataOpts & { chain?: string; from: string; limit?: string }) => {
      await withStore(opts, (store) => {
        const chains = opts.chain === undefined ? CHAINS : [parseChain(opts.chain)];
        const from = parseCount(opts.from, '--from');
        const limit = opts.limit === undefined ? Number.POSITIVE_INFINITY : parseCount(opts.limit, '--limit');
        const rows = [];
        for (const c of chains) for (const { block, seq } of store.iterate(c, from, limit)) rows.push(blockSummary(block, seq));
        if (opts.json === true) {
          printJson(rows);
          return;
        }
        printLine('chain:pos  type       name                 size        id');
        for (const r of rows) {
          printLine(
            `${`${r.chain}:${r.seq}`.padEnd(9)}  ${r.type.padEnd(9)}  ${(r.expert ?? '').padEnd(19)}  ${formatSize(r.payloadSize).padStart(10)}  ${r.id}`,
          );
        }
        if (rows.length === 0) note('no blocks');
      });
    });

  chain
    .command('show')
    .description('show one block: HASH or CHAIN:INDEX (e.g. A:0; on chain B the index is the local position)')
    .argument('<ref>', 'block hash or CHAIN:INDEX')
    .option('--data <dir>', 'data directory (default $BLYAN_DATA or ~/.blyan)')
    .option('--json', 'print JSON')
    .action(async (ref: string, opts: DataOpts) => {
      await withStore(opts, (store) => {
        const { id, seq } = resolveBlockRef(store, ref);
        const block = store.getBlock(id);
        if (block === undefined) throw new BlyanError('NOT_FOUND', `no block ${toHex(id)} in this chain`);
        const summary = { ...blockSummary(block, seq ?? store.positionOf(block.id) ?? -1), cid: blockCid(block).toString(), payloadStored: block.header.payloadSize === 0 || store.hasPayload(block.header.payloadHash) };
        if (opts.json === true) {
          printJson(summary);
          return;
        }
        for (const [k, v] of Object.entries(summary)) {
          if (Array.isArray(v)) printLine(`${k.padEnd(13)} ${v.length === 0 ? '[]' : v.join('\n              ')}`);
          else printLine(`${k.padEnd(13)} ${k === 'payloadSize' ? `${String(v)} (${formatSize(v as number)})` : String(v)}`);
        }
      });
    });

  chain
    .command('verify')
    .description('re-verify every block (encoding, proof-of-work, signature, payload, chain rules) and the indexes')
    .option('--headers-only', 'skip re-hashing payloads')
    .option('--data <dir>', 'data directory (default $BLYAN_DATA or ~/.blyan)')
    .option('--json', 'print JSON')
    .action(async (opts: DataOpts & { headersOnly?: boolean }) => {
      await withStore(opts, (store) => {
        const total = CHAINS.reduce((n, c) => n + store.height(c), 0);
        const bar = progressBar('verifying', total, { quiet: opts.json === true, unit: 'blocks' });
        const started = performance.now();
        let report: ReturnType<typeof verifyStore>;
        try {
          report = verifyStore(store, { payloads: opts.headersOnly !== true, onProgress: (done) => bar.update(done) });
        } finally {
          bar.stop();
        }
        const seconds = (performance.now() - started) / 1000;
        if (opts.json === true) printJson({ ok: true, ...report, seconds });
        else printLine(`ok: ${report.blocks} blocks and ${formatSize(report.payloadBytes)} of payloads verified in ${seconds.toFixed(2)} s`);
      });
    });

  chain
    .command('export')
    .description('write every block and payload to a portable archive (CAR v1)')
    .argument('<file>', 'archive file to write')
    .option('--data <dir>', 'data directory (default $BLYAN_DATA or ~/.blyan)')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: DataOpts) => {
      await withStore(opts, async (store) => {
        let bar: ReturnType<typeof progressBar> | undefined;
        const started = performance.now();
        const { exportArchive } = await import('../../chain/archive/index.ts');
        const result = await exportArchive(store, file, {
          onProgress: (done: number, total: number) => {
            bar ??= progressBar('exporting', total, { quiet: opts.json === true, unit: 'bytes' });
            bar.update(done);
          },
        });
        bar?.stop();
        const seconds = (performance.now() - started) / 1000;
        if (opts.json === true) printJson({ file, ...result, seconds });
        else printLine(`wrote ${file}: ${result.blocks} blocks, ${result.payloads} payloads, ${formatSize(result.bytes)} in ${seconds.toFixed(2)} s`);
      });
    });

  chain
    .command('import')
    .description('verify every block of an archive, then add the new ones atomically (nothing is written if any check fails)')
    .argument('<file>', 'archive file (from `blyan chain export`)')
    .option('--data <dir>', 'data directory (default $BLYAN_DATA or ~/.blyan)')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: DataOpts) => {
      let size: number;
      try {
        size = statSync(file).size;
      } catch {
        throw new BlyanError('IO_ERROR', `cannot read archive ${file}: no such file`);
      }
      await withStore(opts, async (store) => {
        const bar = progressBar('importing', size * 2, { quiet: opts.json === true, unit: 'bytes' });
        const started = performance.now();
        let result: Awaited<ReturnType<typeof import('../../chain/archive/index.ts').importArchive>>;
        try {
          const { importArchive } = await import('../../chain/archive/index.ts');
          result = await importArchive(store, file, { onProgress: (done: number) => bar.update(done) });
        } finally {
          bar.stop();
        }
        const seconds = (performance.now() - started) / 1000;
        if (opts.json === true) printJson({ file, ...result, seconds });
        else printLine(`imported ${file}: ${result.added} new blocks, ${result.skipped} already present (${seconds.toFixed(2)} s)`);
      });
    });
}
