/**
 * Writes test/vectors/blocks.json: block encoding, id, CID, signature and tile-root vectors
 * (docs/block-encoding.md). Everything is derived from fixed, public keys and fixed inputs, so
 * running this twice gives the same file byte for byte.
 *
 *   node --import tsx scripts/gen-vectors.ts            write the file
 *   node --import tsx scripts/gen-vectors.ts --check    exit 1 if the file on disk differs
 *
 * test/chain/vectors.test.ts checks the file against independent code (@noble/hashes,
 * @noble/curves and a hand-written CBOR encoder), so a change in the encoding shows up there.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { formatAddress } from '../src/chain/address.ts';
import { createBlock, verifyStandalone } from '../src/chain/block.ts';
import { decodeRecord, encodeRecord } from '../src/chain/encoding.ts';
import { GENESIS_PRIVATE_KEY, genesisOf } from '../src/chain/genesis.ts';
import { sha256, toHex } from '../src/chain/hash.ts';
import { TILE_BYTES } from '../src/chain/limits.ts';
import { leadingZeroBits } from '../src/chain/pow.ts';
import { DEVNET, type Preset, TINY } from '../src/chain/presets.ts';
import { publicKeyOf, signDigest, signingDigest } from '../src/chain/sign.ts';
import { tileCount, tileRoot } from '../src/chain/tiles.ts';
import type { Block, BlockHeader } from '../src/chain/types.ts';
import { type BlyanErrorCode, isBlyanError } from '../src/errors.ts';

/** Same derivation as TEST_KEY in test/helpers/fixtures.ts (kept here so the script needs no test code). */
const TEST_KEY = sha256(new TextEncoder().encode('blyan test key 1'));

const DAG_CBOR = 0x71;
const SHA2_256 = 0x12;

/** The payload byte pattern of the tile-root vectors: byte i is i mod 251. */
export function patternBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = i % 251;
  return out;
}

export function headerToJson(h: BlockHeader): Record<string, unknown> {
  return {
    v: h.v,
    chain: h.chain,
    index: h.index,
    prev: h.prev === null ? null : toHex(h.prev),
    deps: h.deps.map(toHex),
    type: h.type,
    expert: h.expert,
    layer: h.layer,
    payloadHash: toHex(h.payloadHash),
    payloadSize: h.payloadSize,
    tileRoot: toHex(h.tileRoot),
    time: h.time,
    nonce: toHex(h.nonce),
    difficulty: h.difficulty,
    author: toHex(h.author),
  };
}

function blockVector(name: string, description: string, preset: Preset, key: Uint8Array, block: Block, payload: Uint8Array) {
  const cid = CID.create(1, DAG_CBOR, Digest.create(SHA2_256, block.id));
  return {
    name,
    description,
    preset: preset.name,
    chainId: preset.chainId,
    privateKey: toHex(key),
    publicKey: toHex(publicKeyOf(key)),
    author: formatAddress(block.header.author),
    header: headerToJson(block.header),
    headerBytes: toHex(block.headerBytes),
    id: toHex(block.id),
    leadingZeroBits: leadingZeroBits(block.id),
    cid: cid.toString(),
    cidBytes: toHex(cid.bytes),
    signingDigest: toHex(signingDigest(preset.chainId, block.header.chain, block.header.type, block.id)),
    signature: toHex(block.sig),
    record: toHex(encodeRecord(block)),
    payload: toHex(payload),
  };
}

/** Minimal CBOR writer for the invalid vectors only: encodes maps in the key order given (never canonical on purpose). */
function cborWithKeyOrder(value: unknown, order: (a: string, b: string) => number): Uint8Array {
  const out: number[] = [];
  const head = (major: number, n: number) => {
    if (n < 24) out.push((major << 5) | n);
    else if (n < 0x100) out.push((major << 5) | 24, n);
    else if (n < 0x10000) out.push((major << 5) | 25, n >> 8, n & 0xff);
    else if (n < 0x100000000) out.push((major << 5) | 26, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    else {
      const hi = Math.floor(n / 2 ** 32);
      out.push((major << 5) | 27, hi >>> 24, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    }
  };
  const write = (v: unknown): void => {
    if (v === null) out.push(0xf6);
    else if (typeof v === 'number') head(0, v);
    else if (typeof v === 'string') {
      const b = new TextEncoder().encode(v);
      head(3, b.length);
      out.push(...b);
    } else if (v instanceof Uint8Array) {
      head(2, v.length);
      out.push(...v);
    } else if (Array.isArray(v)) {
      head(4, v.length);
      for (const x of v) write(x);
    } else {
      const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => order(a, b));
      head(5, entries.length);
      for (const [k, x] of entries) {
        write(k);
        write(x);
      }
    }
  };
  write(value);
  return Uint8Array.from(out);
}

function splice(bytes: Uint8Array, at: number, remove: number, insert: readonly number[]): Uint8Array {
  return Uint8Array.from([...bytes.subarray(0, at), ...insert, ...bytes.subarray(at + remove)]);
}

/** Offset of the value of a top-level header key (the key is a short text string). */
function valueOffset(headerBytes: Uint8Array, key: string): number {
  const marker = Buffer.from([0x60 + key.length, ...new TextEncoder().encode(key)]);
  const at = Buffer.from(headerBytes).indexOf(marker);
  if (at < 0) throw new Error(`no key ${key}`);
  return at + marker.length;
}

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

function invalidVectors(base: Block, model: Block) {
  const h = base.headerBytes;
  const withSig = (headerBytes: Uint8Array, sig: Uint8Array = base.sig) => encodeRecord({ headerBytes, sig });
  const depsAt = valueOffset(h, 'deps');
  const highS = base.sig.slice();
  const s = BigInt(`0x${toHex(base.sig.subarray(32, 64))}`);
  highS.set(Buffer.from((SECP256K1_N - s).toString(16).padStart(64, '0'), 'hex'), 32);
  highS[64] = (base.sig[64] as number) ^ 1;
  const v2 = base.sig.slice();
  v2[64] = 2;
  const otherNetwork = signDigest(signingDigest(DEVNET.chainId, model.header.chain, model.header.type, model.id), TEST_KEY);
  const cases: { name: string; description: string; record: Uint8Array; expect: BlyanErrorCode; preset: Preset }[] = [
    { name: 'non-minimal-int', description: 'tiny-genesis-C0 with v encoded as 0x18 0x01 instead of 0x01', record: withSig(splice(h, valueOffset(h, 'v'), 1, [0x18, 0x01])), expect: 'BLOCK_MALFORMED', preset: TINY },
    { name: 'float-version', description: 'tiny-genesis-C0 with v encoded as the half float 1.0 (0xf9 0x3c00)', record: withSig(splice(h, valueOffset(h, 'v'), 1, [0xf9, 0x3c, 0x00])), expect: 'BLOCK_NOT_CANONICAL', preset: TINY },
    { name: 'undefined-prev', description: 'tiny-genesis-C0 with prev encoded as undefined (0xf7) instead of null (0xf6)', record: withSig(splice(h, valueOffset(h, 'prev'), 1, [0xf7])), expect: 'BLOCK_NOT_CANONICAL', preset: TINY },
    { name: 'indefinite-deps', description: 'tiny-genesis-C0 with deps as an indefinite-length array (0x9f … 0xff)', record: withSig(splice(splice(h, depsAt + 35, 0, [0xff]), depsAt, 1, [0x9f])), expect: 'BLOCK_MALFORMED', preset: TINY },
    { name: 'trailing-byte', description: 'tiny-genesis-C0 header followed by one extra 0x00 before the signature', record: withSig(Uint8Array.from([...h, 0x00])), expect: 'BLOCK_MALFORMED', preset: TINY },
    { name: 'unknown-field', description: 'tiny-genesis-C0 with a 16th entry "x": 0 appended (map head 0xb0)', record: withSig(Uint8Array.from([0xb0, ...h.subarray(1), 0x61, 0x78, 0x00])), expect: 'BLOCK_BAD_FIELD', preset: TINY },
    {
      name: 'keys-bytewise-order',
      description: 'tiny-genesis-C0 with the map keys in plain bytewise order instead of length-first',
      record: withSig(cborWithKeyOrder(dagCbor.decode(h), (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))),
      expect: 'BLOCK_NOT_CANONICAL',
      preset: TINY,
    },
    { name: 'high-s', description: 'tiny-genesis-C0 signed with s replaced by n − s (and v flipped): the same signature, malleated', record: withSig(h, highS), expect: 'BLOCK_BAD_SIGNATURE', preset: TINY },
    { name: 'recovery-id-2', description: 'tiny-genesis-C0 with signature byte 64 (v) set to 2', record: withSig(h, v2), expect: 'BLOCK_BAD_SIGNATURE', preset: TINY },
    { name: 'other-network-signature', description: 'tiny-model-A1 signed with the devnet chain id in its signing digest', record: encodeRecord({ headerBytes: model.headerBytes, sig: otherNetwork }), expect: 'BLOCK_BAD_SIGNATURE', preset: TINY },
    { name: 'truncated', description: 'a record of 65 bytes (no header at all)', record: base.sig.slice(), expect: 'BLOCK_MALFORMED', preset: TINY },
  ];
  return cases.map((c) => {
    try {
      verifyStandalone(decodeRecord(c.record), c.preset);
    } catch (err) {
      if (isBlyanError(err, c.expect)) return { name: c.name, description: c.description, preset: c.preset.name, expect: c.expect, record: toHex(c.record) };
      throw new Error(`invalid vector ${c.name}: expected ${c.expect}, got ${String(err)}`);
    }
    throw new Error(`invalid vector ${c.name} was accepted`);
  });
}

export function buildVectors() {
  const tiny = genesisOf(TINY);
  const devnet = genesisOf(DEVNET);
  const t0 = TINY.genesisTime;

  const modelPayload = dagCbor.encode({ family: 'test', name: 'vector-model', layers: 2, experts: 4 });
  const model = createBlock(
    { chain: 'A', index: 1, prev: tiny.a.block.id, deps: [], type: 'model', time: t0 + 60_000 },
    modelPayload,
    TEST_KEY,
    TINY,
  );
  const expertPayload = patternBytes(48);
  const expert = createBlock(
    { chain: 'B', index: 0, prev: null, deps: [model.id], type: 'expert', expert: 'layer0.expert1', layer: 0, time: t0 + 120_000 },
    expertPayload,
    TEST_KEY,
    TINY,
  );
  const deltaPayload = patternBytes(16).map((b) => b ^ 0xff);
  const delta = createBlock(
    { chain: 'B', index: 1, prev: null, deps: [model.id, expert.id], type: 'delta', expert: 'layer0.expert1', layer: 0, time: t0 + 180_000 },
    deltaPayload,
    TEST_KEY,
    TINY,
  );

  const blocks = [
    blockVector('tiny-genesis-A0', 'Block A:0 of the tiny preset; its id is TINY.genesisId. Payload: the DAG-CBOR network parameters (genesisPayload).', TINY, GENESIS_PRIVATE_KEY, tiny.a.block, tiny.a.payload),
    blockVector('tiny-genesis-C0', 'Block C:0 of the tiny preset: depends on exactly A:0, signed by the genesis authority.', TINY, GENESIS_PRIVATE_KEY, tiny.c.block, tiny.c.payload),
    blockVector('devnet-genesis-A0', 'Block A:0 of the devnet preset (chain id 770001, difficulty 12); its id is DEVNET.genesisId.', DEVNET, GENESIS_PRIVATE_KEY, devnet.a.block, devnet.a.payload),
    blockVector('tiny-model-A1', 'A model block at A:1 on the tiny preset, extending tiny-genesis-A0, signed by TEST_KEY.', TINY, TEST_KEY, model, modelPayload),
    blockVector('tiny-expert-B', 'Chain-B expert layer0.expert1 of tiny-model-A1 (DAG depth 0); payload is the first 48 bytes of the pattern.', TINY, TEST_KEY, expert, expertPayload),
    blockVector('tiny-delta-B', 'Chain-B delta of layer0.expert1 on top of tiny-expert-B (DAG depth 1); payload is the first 16 pattern bytes XOR 0xff.', TINY, TEST_KEY, delta, deltaPayload),
  ];

  const invalid = invalidVectors(tiny.c.block, model);

  const sizes = [
    ['0', 0],
    ['1', 1],
    ['4 MiB', TILE_BYTES],
    ['4 MiB + 1', TILE_BYTES + 1],
    ['9 MiB', 9 * 1024 * 1024],
  ] as const;
  const big = patternBytes(9 * 1024 * 1024);
  const tileRoots = sizes.map(([label, size]) => {
    const payload = big.subarray(0, size);
    return { label, size, tiles: tileCount(size), payloadHash: toHex(sha256(payload)), tileRoot: toHex(tileRoot(payload)) };
  });

  return {
    description:
      'Blyan block vectors (docs/block-encoding.md). Hex is lowercase without 0x. Keys are public test keys: never use them for anything else. ' +
      'Regenerate with `node --import tsx scripts/gen-vectors.ts`; checked by test/chain/vectors.test.ts.',
    keys: {
      genesisAuthority: { derivation: 'SHA-256(utf8("blyan/genesis-authority/v1"))', privateKey: toHex(GENESIS_PRIVATE_KEY) },
      test: { derivation: 'SHA-256(utf8("blyan test key 1"))', privateKey: toHex(TEST_KEY) },
    },
    signatureDomainTag: toHex(new TextEncoder().encode('blyan/block-signature/v1\0')),
    blocks,
    invalid: {
      description: 'Records that every implementation must reject, with the error code of docs/block-rules.md (decodeRecord, then the standalone rules S5–S7).',
      vectors: invalid,
    },
    tileRoots: {
      tileBytes: TILE_BYTES,
      pattern: 'payload byte i (0-based) = i mod 251; a payload of size n is the first n bytes of that sequence',
      vectors: tileRoots,
    },
  };
}

function main(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const out = join(root, 'test', 'vectors', 'blocks.json');
  const text = `${JSON.stringify(buildVectors(), null, 2)}\n`;
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(out, 'utf8');
    } catch {
      // a missing file counts as different
    }
    if (current !== text) {
      process.stderr.write(`${out} is out of date: run node --import tsx scripts/gen-vectors.ts\n`);
      process.exit(1);
    }
    process.stdout.write(`${out} is up to date\n`);
    return;
  }
  writeFileSync(out, text);
  process.stdout.write(`wrote ${out}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
