import { formatAddress } from '../../chain/address.ts';
import { toHex } from '../../chain/hash.ts';
import type { DatasetMeta } from '../../datasets/datasetBlock.ts';
import type { DatasetEntry } from '../../datasets/registry.ts';
import type { L0Report } from '../../datasets/report.ts';
import type { Shard } from '../../datasets/sharding.ts';

/** Datasets as people and scripts see them: hashes in hex, author as an EIP-55 address. */

export function reportView(r: L0Report) {
  return { ...r, input: { size: r.input.size, sha256: toHex(r.input.sha256) } };
}

export function metaView(meta: DatasetMeta) {
  return {
    name: meta.name,
    tier: meta.tier,
    license: meta.license,
    mediaType: meta.mediaType,
    size: meta.size,
    sha256: toHex(meta.sha256),
    chunkSize: meta.chunkSize,
    chunks: meta.chunks.length,
    report: reportView(meta.report),
  };
}

export function entryView(e: Pick<DatasetEntry, 'idHex' | 'index' | 'block' | 'meta'>) {
  return {
    id: e.idHex,
    index: e.index,
    ...metaView(e.meta),
    author: formatAddress(e.block.header.author),
    time: new Date(e.block.header.time).toISOString(),
  };
}

export function shardView(shard: Shard, miner: string, bytes: Uint8Array, sha256: Uint8Array) {
  return { miner, ...shard, size: bytes.byteLength, sha256: toHex(sha256) };
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatReport(r: L0Report): string {
  const { email, card, phone, mode } = r.pii;
  const pii = `${email} e-mail, ${card} card, ${phone} phone ${mode === 'redact' ? 'redacted' : 'found'}`;
  return `${r.rules}: ${pii}; ${r.toxicity.hits} of ${r.toxicity.words} words on the toxicity list`;
}
