/**
 * Golden vectors (test/vectors/blocks.json, written by scripts/gen-vectors.ts) checked against code that
 * shares nothing with src/chain: a hand-written canonical CBOR encoder, @noble/hashes for SHA-256 and
 * Keccak-256 (src uses node:crypto), @noble/curves for secp256k1 (src uses libsecp256k1) and a
 * hand-written base32 for CIDs. Then the same vectors through src/chain, so both agree with one file.
 * The spec these follow is docs/block-encoding.md.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { CID } from 'multiformats/cid';
import { formatAddress } from '../../src/chain/address.ts';
import { createBlock, verifyStandalone } from '../../src/chain/block.ts';
import { decodeRecord, encodeHeader, encodeRecord } from '../../src/chain/encoding.ts';
import { GENESIS_PRIVATE_KEY, genesisOf } from '../../src/chain/genesis.ts';
import { fromHex, toHex } from '../../src/chain/hash.ts';
import { TILE_BYTES } from '../../src/chain/limits.ts';
import { presetByName } from '../../src/chain/presets.ts';
import { tileCount, tileRoot } from '../../src/chain/tiles.ts';
import type { BlockHeader, BlockType, ChainLetter } from '../../src/chain/types.ts';
import { isBlyanError } from '../../src/errors.ts';
import { TEST_KEY } from '../helpers/fixtures.ts';

interface HeaderJson {
  v: 1;
  chain: ChainLetter;
  index: number;
  prev: string | null;
  deps: string[];
  type: BlockType;
  expert: string | null;
  layer: number | null;
  payloadHash: string;
  payloadSize: number;
  tileRoot: string;
  time: number;
  nonce: string;
  difficulty: number;
  author: string;
}

interface BlockVector {
  name: string;
  preset: string;
  chainId: number;
  privateKey: string;
  publicKey: string;
  author: string;
  header: HeaderJson;
  headerBytes: string;
  id: string;
  leadingZeroBits: number;
  cid: string;
  cidBytes: string;
  signingDigest: string;
  signature: string;
  record: string;
  payload: string;
}

interface Vectors {
  keys: { genesisAuthority: { privateKey: string }; test: { privateKey: string } };
  signatureDomainTag: string;
  blocks: BlockVector[];
  invalid: { vectors: { name: string; preset: string; expect: string; record: string }[] };
  tileRoots: { tileBytes: number; vectors: { label: string; size: number; tiles: number; payloadHash: string; tileRoot: string }[] };
}

const VECTORS = JSON.parse(readFileSync(new URL('../vectors/blocks.json', import.meta.url), 'utf8')) as Vectors;

// ---------- independent helpers (no src/chain code) ----------

const hex = (s: string): Uint8Array => {
  assert.match(s, /^([0-9a-f]{2})*$/, 'vector hex is lowercase, even length, no 0x');
  return Uint8Array.from(Buffer.from(s, 'hex'));
};
const unhex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};

/** Canonical DAG-CBOR for the value kinds a header uses: uint, text, bytes, null, array, map (keys length-first, then bytewise). */
function cbor(value: unknown): Uint8Array {
  const out: number[] = [];
  const head = (major: number, n: number) => {
    assert.ok(Number.isSafeInteger(n) && n >= 0);
    if (n < 24) out.push((major << 5) | n);
    else if (n < 2 ** 8) out.push((major << 5) | 24, n);
    else if (n < 2 ** 16) out.push((major << 5) | 25, n >> 8, n & 0xff);
    else if (n < 2 ** 32) out.push((major << 5) | 26, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    else {
      const hi = Math.floor(n / 2 ** 32);
      const lo = n >>> 0;
      out.push((major << 5) | 27, hi >>> 24, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff);
    }
  };
  const write = (v: unknown): void => {
    if (v === null) out.push(0xf6);
    else if (typeof v === 'number') head(0, v);
    else if (typeof v === 'string') {
      const b = utf8(v);
      head(3, b.length);
      out.push(...b);
    } else if (v instanceof Uint8Array) {
      head(2, v.length);
      out.push(...v);
    } else if (Array.isArray(v)) {
      head(4, v.length);
      for (const x of v) write(x);
    } else {
      const entries = Object.entries(v as Record<string, unknown>).map(([k, x]) => [utf8(k), x] as const);
      entries.sort(([a], [b]) => a.length - b.length || Buffer.compare(a, b));
      head(5, entries.length);
      for (const [k, x] of entries) {
        head(3, k.length);
        out.push(...k);
        write(x);
      }
    }
  };
  write(value);
  return Uint8Array.from(out);
}

/** The header as CBOR values: byte-string fields from hex. */
function headerValue(h: HeaderJson): Record<string, unknown> {
  return {
    ...h,
    prev: h.prev === null ? null : hex(h.prev),
    deps: h.deps.map(hex),
    payloadHash: hex(h.payloadHash),
    tileRoot: hex(h.tileRoot),
    nonce: hex(h.nonce),
    author: hex(h.author),
  };
}

function toHeader(h: HeaderJson): BlockHeader {
  return headerValue(h) as unknown as BlockHeader;
}

/** RFC 4648 base32, lowercase, no padding (multibase prefix "b"). */
function base32(bytes: Uint8Array): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let acc = 0;
  let out = '';
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(acc << (5 - bits)) & 31];
  return out;
}

function leadingZeros(h: Uint8Array): number {
  let n = 0;
  for (const b of h) {
    if (b === 0) {
      n += 8;
      continue;
    }
    for (let bit = 7; bit >= 0 && ((b >> bit) & 1) === 0; bit--) n++;
    break;
  }
  return n;
}

function u32be(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** Tile root per the spec, over a byte source read tile by tile. */
function specTileRoot(size: number, tile: (i: number) => Uint8Array): Uint8Array {
  const count = size === 0 ? 1 : Math.ceil(size / TILE_BYTES);
  let level: Uint8Array[] = [];
  for (let i = 0; i < count; i++) level.push(sha256(concat(Uint8Array.of(0), tile(i))));
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const l = level[i] as Uint8Array;
      const r = level[i + 1];
      next.push(r === undefined ? l : sha256(concat(Uint8Array.of(1), l, r)));
    }
    level = next;
  }
  return level[0] as Uint8Array;
}

const MIN_DIFFICULTY: Record<string, number> = { tiny: 8, devnet: 12 };
const CHAIN_IDS: Record<string, number> = { tiny: 770_000, devnet: 770_001 };
const HALF_N = secp256k1.Point.CURVE().n >> 1n;

// ---------- independent checks ----------

test('vectors file covers the cases the spec promises', () => {
  const names = VECTORS.blocks.map((b) => b.name);
  for (const want of ['tiny-genesis-A0', 'devnet-genesis-A0', 'tiny-model-A1', 'tiny-expert-B', 'tiny-delta-B']) assert.ok(names.includes(want), want);
  assert.deepEqual(
    VECTORS.tileRoots.vectors.map((v) => v.size),
    [0, 1, 4 * 1024 * 1024, 4 * 1024 * 1024 + 1, 9 * 1024 * 1024],
  );
  assert.equal(unhex(utf8('blyan/block-signature/v1\0')), VECTORS.signatureDomainTag);
  assert.equal(unhex(sha256(utf8('blyan/genesis-authority/v1'))), VECTORS.keys.genesisAuthority.privateKey);
  assert.equal(unhex(sha256(utf8('blyan test key 1'))), VECTORS.keys.test.privateKey);
});

for (const v of VECTORS.blocks) {
  test(`vector ${v.name}: independent encoding, id, CID, digest, signature, payload`, () => {
    const headerBytes = hex(v.headerBytes);
    // Encoding: the 15 fields re-encoded by a separate canonical CBOR writer give the same bytes.
    assert.equal(Object.keys(v.header).length, 15);
    assert.equal(unhex(cbor(headerValue(v.header))), v.headerBytes);
    assert.ok(headerBytes.length <= 4096);
    // Id and CID.
    const id = sha256(headerBytes);
    assert.equal(unhex(id), v.id);
    const cidBytes = concat(Uint8Array.of(0x01, 0x71, 0x12, 0x20), id);
    assert.equal(unhex(cidBytes), v.cidBytes);
    assert.equal(`b${base32(cidBytes)}`, v.cid);
    // Proof of work.
    assert.equal(leadingZeros(id), v.leadingZeroBits);
    assert.ok(v.leadingZeroBits >= v.header.difficulty);
    assert.ok(v.header.difficulty >= (MIN_DIFFICULTY[v.preset] as number));
    assert.equal(v.chainId, CHAIN_IDS[v.preset]);
    // Signing digest.
    const digest = sha256(concat(utf8('blyan/block-signature/v1\0'), u32be(v.chainId), utf8(v.header.chain), utf8(v.header.type), Uint8Array.of(0), id));
    assert.equal(unhex(digest), v.signingDigest);
    // Key, author address (Ethereum: keccak256(X ‖ Y)[12..32]).
    const priv = hex(v.privateKey);
    const pub = secp256k1.getPublicKey(priv, false);
    assert.equal(unhex(pub), v.publicKey);
    const address = keccak_256(pub.subarray(1)).slice(12);
    assert.equal(unhex(address), v.header.author);
    assert.equal(v.author.toLowerCase(), `0x${v.header.author}`);
    // Signature: r ‖ s ‖ v, low-s, verifies, recovers to the author, and RFC 6979 reproduces it.
    const sig = hex(v.signature);
    assert.equal(sig.length, 65);
    const rs = sig.subarray(0, 64);
    const recid = sig[64] as number;
    assert.ok(recid === 0 || recid === 1);
    assert.ok(BigInt(`0x${unhex(rs.subarray(32))}`) <= HALF_N, 'low-s');
    assert.equal(secp256k1.verify(rs, digest, pub, { prehash: false, lowS: true }), true);
    const recovered = secp256k1.recoverPublicKey(concat(Uint8Array.of(recid), rs), digest, { prehash: false });
    assert.equal(unhex(secp256k1.Point.fromBytes(recovered).toBytes(false)), v.publicKey);
    const resigned = secp256k1.sign(digest, priv, { prehash: false, lowS: true, format: 'recovered' });
    assert.equal(unhex(concat(resigned.subarray(1), resigned.subarray(0, 1))), v.signature);
    // Record.
    assert.equal(v.record, v.headerBytes + v.signature);
    // Payload commitments.
    const payload = hex(v.payload);
    assert.equal(payload.length, v.header.payloadSize);
    assert.equal(unhex(sha256(payload)), v.header.payloadHash);
    assert.ok(payload.length <= TILE_BYTES, 'vector payloads are one tile');
    assert.equal(unhex(sha256(concat(Uint8Array.of(0), payload))), v.header.tileRoot);
    // The CID also parses with multiformats.
    assert.equal(unhex(CID.parse(v.cid).bytes), v.cidBytes);
  });
}

test('tile-root vectors: spec formula with @noble/hashes over the i mod 251 pattern', () => {
  assert.equal(VECTORS.tileRoots.tileBytes, TILE_BYTES);
  const max = Math.max(...VECTORS.tileRoots.vectors.map((v) => v.size));
  const pattern = new Uint8Array(max);
  for (let i = 0; i < max; i++) pattern[i] = i % 251;
  for (const v of VECTORS.tileRoots.vectors) {
    const payload = pattern.subarray(0, v.size);
    assert.equal(v.tiles, v.size === 0 ? 1 : Math.ceil(v.size / TILE_BYTES), v.label);
    assert.equal(unhex(sha256(payload)), v.payloadHash, v.label);
    const root = specTileRoot(v.size, (i) => payload.subarray(i * TILE_BYTES, (i + 1) * TILE_BYTES));
    assert.equal(unhex(root), v.tileRoot, v.label);
    // And src/chain agrees.
    assert.equal(tileCount(v.size), v.tiles, v.label);
    assert.equal(toHex(tileRoot(payload)), v.tileRoot, v.label);
  }
});

// ---------- the same vectors through src/chain ----------

for (const v of VECTORS.blocks) {
  test(`vector ${v.name}: src/chain encodes, decodes, verifies and re-creates it`, () => {
    const preset = presetByName(v.preset);
    assert.equal(preset.chainId, v.chainId);
    const header = toHeader(v.header);
    assert.equal(toHex(encodeHeader(header)), v.headerBytes);
    const block = decodeRecord(fromHex(v.record));
    assert.equal(toHex(block.id), v.id);
    assert.equal(toHex(block.headerBytes), v.headerBytes);
    assert.equal(toHex(block.sig), v.signature);
    assert.deepEqual(JSON.parse(JSON.stringify(block.header, (_k, x: unknown) => (x instanceof Uint8Array ? toHex(x) : x))), v.header);
    assert.equal(toHex(encodeRecord(block)), v.record);
    assert.equal(formatAddress(block.header.author), v.author);
    verifyStandalone(block, preset, { payload: fromHex(v.payload), now: header.time });
    // Deterministic creation: the same draft, payload and key give the same record.
    const remade = createBlock(
      {
        chain: header.chain,
        index: header.index,
        prev: header.prev,
        deps: header.deps,
        type: header.type,
        expert: header.expert,
        layer: header.layer,
        time: header.time,
        difficulty: header.difficulty,
      },
      fromHex(v.payload),
      fromHex(v.privateKey, 32),
      preset,
    );
    assert.equal(toHex(encodeRecord(remade)), v.record);
  });
}

test('genesis vectors are the pinned genesis blocks of their presets', () => {
  for (const name of ['tiny', 'devnet']) {
    const preset = presetByName(name);
    const v = VECTORS.blocks.find((b) => b.name === `${name}-genesis-A0`);
    assert.ok(v !== undefined);
    assert.equal(v.id, preset.genesisId);
    assert.equal(v.privateKey, toHex(GENESIS_PRIVATE_KEY));
    assert.equal(toHex(encodeRecord(genesisOf(preset).a.block)), v.record);
    assert.equal(toHex(genesisOf(preset).a.payload), v.payload);
  }
  const model = VECTORS.blocks.find((b) => b.name === 'tiny-model-A1');
  assert.equal(model?.privateKey, toHex(TEST_KEY));
});

for (const v of VECTORS.invalid.vectors) {
  test(`invalid vector ${v.name} is rejected with ${v.expect}`, () => {
    assert.throws(
      () => verifyStandalone(decodeRecord(fromHex(v.record)), presetByName(v.preset)),
      (err: unknown) => isBlyanError(err) && err.code === v.expect,
    );
  });
}
