import { rmSync, statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportArchive, importArchive } from '../src/chain/archive/index.ts';
import { createBlock } from '../src/chain/block.ts';
import { checkPow, checkSignature } from '../src/chain/block.ts';
import { decodeHeader, decodeHeaderReference, decodeRecord, encodeHeader, encodeRecord, blockIdOf } from '../src/chain/encoding.ts';
import { sha256 } from '../src/chain/hash.ts';
import { TINY } from '../src/chain/presets.ts';
import { clearPublicKeyCache, SIGNATURE_BYTES, secp256k1Backend, signDigest, signingDigest } from '../src/chain/sign.ts';
import { BlockStore } from '../src/chain/store.ts';
import type { Block } from '../src/chain/types.ts';
import { addModel, deterministicBytes, expertBlock, TEST_KEY } from '../test/helpers/fixtures.ts';

/** Runs `fn` repeatedly for ~`ms` milliseconds and returns operations per second. */
function rate(fn: () => void, ms = 1000): number {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    fn();
    n++;
    if ((n & 15) === 0) now = performance.now();
  }
  return n / ((performance.now() - start) / 1000);
}

function makeHeaders(count: number, authors: Uint8Array[]): Uint8Array[] {
  const records: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const key = authors[i % authors.length] as Uint8Array;
    const block = createBlock(
      { chain: 'B', index: 0, prev: null, deps: [sha256(new Uint8Array([i & 255, i >> 8]))], type: 'expert', expert: `layer${i % 32}.expert${i % 8}`, layer: i % 32, time: TINY.genesisTime + i },
      new Uint8Array(0),
      key,
      TINY,
    );
    records.push(encodeRecord(block));
  }
  return records;
}

function verifyHeaders(records: Uint8Array[]): number {
  const t = performance.now();
  for (const r of records) {
    const b = decodeRecord(r);
    checkPow(b, TINY);
    checkSignature(b, TINY);
  }
  return (performance.now() - t) / 1000;
}

export async function benchChain(): Promise<Record<string, unknown>> {
  const sample = makeHeaders(1, [TEST_KEY])[0] as Uint8Array;
  const block = decodeRecord(sample);
  const encodeHash = rate(() => {
    blockIdOf(encodeHeader(block.header));
  });
  const digest = signingDigest(TINY.chainId, 'B', 'expert', block.id);
  const signed = rate(() => {
    signDigest(digest, TEST_KEY);
  });

  // 10,000 headers from 16 authors: decode (canonical check) + PoW + signature, one core.
  const authors = Array.from({ length: 16 }, (_, i) => sha256(new TextEncoder().encode(`bench author ${i}`)));
  const records = makeHeaders(10_000, authors);
  verifyHeaders(records.slice(0, 200)); // a short JIT warm-up
  clearPublicKeyCache();
  // First pass: the JIT still compiling the decoder and rule checks (a node's first sync batch).
  const verifyFirstPassSeconds = verifyHeaders(records);
  // Steady state, as a syncing node runs after its first batch: compiled code, but no public key known
  // (the recovery cache is cleared, so every author's first signature pays the full recovery).
  clearPublicKeyCache();
  const verifyColdSeconds = verifyHeaders(records);
  const verifyWarmSeconds = verifyHeaders(records);
  // The two largest parts of that time, alone: header decoding and public-key recovery.
  const headers = records.map((r) => r.subarray(0, r.byteLength - SIGNATURE_BYTES));
  let next = 0;
  const decodePerSec = rate(() => {
    decodeHeader(headers[next++ % headers.length] as Uint8Array);
  });
  const referenceDecodePerSec = rate(() => {
    decodeHeaderReference(headers[next++ % headers.length] as Uint8Array);
  }, 300);
  const signedSample = records.slice(0, 1000).map((r) => {
    const b = decodeRecord(r);
    return { sig: b.sig, digest: signingDigest(TINY.chainId, b.header.chain, b.header.type, b.id) };
  });
  const recovered = new Uint8Array(65);
  const recoverPerSec = rate(() => {
    const s = signedSample[next++ % signedSample.length] as { sig: Uint8Array; digest: Uint8Array };
    secp256k1Backend().recoverInto(s.sig, s.digest, recovered);
  });
  // Every block from a new author: the recovery path each time (worst case).
  const uniqueAuthors = makeHeaders(2000, Array.from({ length: 2000 }, (_, i) => sha256(new TextEncoder().encode(`u${i}`))));
  clearPublicKeyCache();
  const recoverSeconds = verifyHeaders(uniqueAuthors);

  // Durable appends (each its own LMDB transaction, synced).
  const dir = mkdtempSync(join(tmpdir(), 'blyan-bench-'));
  const appends: Record<string, number> = {};
  let archive: Record<string, number> = {};
  try {
    const { store } = BlockStore.init(join(dir, 'a'), TINY);
    const model = addModel(store).block.id;
    for (const [label, size, count] of [['1KiB', 1024, 300], ['1MiB', 1024 * 1024, 60]] as const) {
      const items: { block: Block; payload: Uint8Array }[] = [];
      for (let i = 0; i < count; i++) {
        const payload = deterministicBytes(`${label}-${i}`, size);
        items.push({ block: expertBlock(model, i % 8, i, payload, { time: TINY.genesisTime + 10 + i }), payload });
      }
      const t = performance.now();
      for (const it of items) store.append(it.block, it.payload);
      appends[label] = count / ((performance.now() - t) / 1000);
    }
    // Archive: a store with ~200 MiB of expert payloads.
    for (let i = 0; i < 50; i++) {
      const payload = deterministicBytes(`big-${i}`, 4 * 1024 * 1024);
      store.append(expertBlock(model, 16 + (i % 8), i, payload, { time: TINY.genesisTime + 5000 + i }), payload);
    }
    const file = join(dir, 'chain.car');
    let t = performance.now();
    await exportArchive(store, file);
    const exportS = (performance.now() - t) / 1000;
    const bytes = statSync(file).size;
    await store.close();
    const { store: target } = BlockStore.init(join(dir, 'b'), TINY);
    t = performance.now();
    await importArchive(target, file);
    const importS = (performance.now() - t) / 1000;
    await target.close();
    archive = { archiveMB: bytes / 1e6, exportMBps: bytes / 1e6 / exportS, importMBps: bytes / 1e6 / importS };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  return {
    bench: 'chain',
    encodeHashPerSec: Math.round(encodeHash),
    signPerSec: Math.round(signed),
    verifyPerSec: Math.round(10_000 / verifyWarmSeconds),
    verify10kHeadersSeconds: Number(verifyColdSeconds.toFixed(3)),
    verify10kHeadersFirstPassSeconds: Number(verifyFirstPassSeconds.toFixed(3)),
    verify10kHeadersTargetSeconds: 0.5,
    decodeHeaderMicros: Number((1e6 / decodePerSec).toFixed(2)),
    decodeHeaderReferenceMicros: Number((1e6 / referenceDecodePerSec).toFixed(2)),
    recoverMicros: Number((1e6 / recoverPerSec).toFixed(2)),
    secp256k1Backend: secp256k1Backend().name,
    verifyNewAuthorEachPerSec: Math.round(2000 / recoverSeconds),
    appendsPerSec: { '1KiB': Math.round(appends['1KiB'] ?? 0), '1MiB': Math.round(appends['1MiB'] ?? 0) },
    ...Object.fromEntries(Object.entries(archive).map(([k, v]) => [k, Number(v.toFixed(1))])),
  };
}
