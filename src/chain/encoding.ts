import * as dagCbor from '@ipld/dag-cbor';
import { decodeUntrustedCbor } from '../cborBounds.ts';
import { BlyanError } from '../errors.ts';
import { ADDRESS_BYTES } from './address.ts';
import { compareBytes, equalBytes, HASH_BYTES, type Hash, sha256 } from './hash.ts';
import { scanCanonicalHeader } from './headerDecode.ts';
import { MAX_DEPS, MAX_HEADER_BYTES, MAX_LAYER, MAX_NAME_LENGTH, MAX_TIME_MS, NONCE_BYTES } from './limits.ts';
import { nativeSha256Into } from './secp256k1Backend.ts';
import { SIGNATURE_BYTES } from './sign.ts';
import { BLOCK_TYPES, type Block, type BlockHeader, type BlockType, isChainLetter } from './types.ts';

/**
 * Block encoding (docs/block-encoding.md):
 *   header bytes = canonical DAG-CBOR map of the 15 header fields
 *   block id     = SHA-256(header bytes)
 *   record       = header bytes ‖ 65-byte signature   (how blocks are stored and sent)
 * Exactly one byte string is accepted for each header (rule E2): decodeHeader takes only the canonical
 * layout (headerDecode.ts) and hands anything else to the reference decoder, which names the error.
 */

const FIELDS = [
  'v', 'chain', 'index', 'prev', 'deps', 'type', 'expert', 'layer',
  'payloadHash', 'payloadSize', 'tileRoot', 'time', 'nonce', 'difficulty', 'author',
] as const;
const FIELD_SET = new Set<string>(FIELDS);

const TYPE_RE = /^[a-z][a-z0-9_-]{0,31}$/;
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

// Block ids through the addon's SHA-256 (secp256k1Backend.ts): the same digest, ~1 µs a header less.
const sha256Into = nativeSha256Into();
const idOut = new Uint8Array(HASH_BYTES);

export function encodeHeader(header: BlockHeader): Uint8Array {
  const bytes = dagCbor.encode({
    v: header.v,
    chain: header.chain,
    index: header.index,
    prev: header.prev,
    deps: header.deps,
    type: header.type,
    expert: header.expert,
    layer: header.layer,
    payloadHash: header.payloadHash,
    payloadSize: header.payloadSize,
    tileRoot: header.tileRoot,
    time: header.time,
    nonce: header.nonce,
    difficulty: header.difficulty,
    author: header.author,
  });
  if (bytes.byteLength > MAX_HEADER_BYTES) {
    throw new BlyanError('BLOCK_TOO_LARGE', `header is ${bytes.byteLength} bytes; the limit is ${MAX_HEADER_BYTES}`);
  }
  return bytes;
}

export function blockIdOf(headerBytes: Uint8Array): Hash {
  if (sha256Into === undefined) return sha256(headerBytes);
  sha256Into(headerBytes, idOut);
  return idOut.slice();
}

function bad(field: string, why: string): never {
  throw new BlyanError('BLOCK_BAD_FIELD', `header field "${field}" ${why}`, { field });
}

function bytesField(obj: Record<string, unknown>, field: string, len: number): Uint8Array {
  const v = obj[field];
  if (!(v instanceof Uint8Array) || v.byteLength !== len) bad(field, `must be ${len} bytes`);
  return v;
}

function uintField(obj: Record<string, unknown>, field: string, max = Number.MAX_SAFE_INTEGER): number {
  const v = obj[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) bad(field, `must be an integer in 0..${max}`);
  return v;
}

function nameField(obj: Record<string, unknown>, field: string): string | null {
  const v = obj[field];
  if (v === null) return null;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NAME_LENGTH || !NAME_RE.test(v)) {
    bad(field, `must be null or a name of 1..${MAX_NAME_LENGTH} letters, digits, "_", "." or "-"`);
  }
  return v;
}

/** Turns a decoded CBOR value into a typed header, checking every field's type and range (rules E3, S1–S4). */
export function parseHeader(value: unknown): BlockHeader {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new BlyanError('BLOCK_MALFORMED', 'a block header must be a CBOR map');
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  for (const k of keys) if (!FIELD_SET.has(k)) bad(k.slice(0, 40), 'is not a header field');
  for (const k of FIELDS) if (!(k in obj)) bad(k, 'is missing');
  return parseFields(obj);
}

/** parseHeader after the key checks: `obj` has exactly the 15 header fields. */
function parseFields(obj: Readonly<Record<string, unknown>>): BlockHeader {
  if (obj.v !== 1) {
    // Never String() a decoded value: a map with a non-callable "toString" key makes that throw a TypeError.
    const got = typeof obj.v === 'number' ? String(obj.v) : obj.v === null ? 'null' : `of type ${typeof obj.v}`;
    throw new BlyanError('BLOCK_BAD_VERSION', `unsupported block version ${got}; this node reads version 1`);
  }
  const chain = obj.chain;
  if (!isChainLetter(chain)) bad('chain', 'must be one of "A", "B", "C", "D"');
  const type = obj.type;
  if (typeof type !== 'string' || !TYPE_RE.test(type)) bad('type', 'must be a short lowercase identifier');
  if (!(BLOCK_TYPES[chain] as readonly string[]).includes(type)) {
    throw new BlyanError('BLOCK_BAD_TYPE', `chain ${chain} has no block type "${type}" (allowed: ${BLOCK_TYPES[chain].join(', ')})`, { chain, type });
  }
  const index = uintField(obj, 'index');
  const prevRaw = obj.prev;
  const prev = prevRaw === null ? null : bytesField(obj, 'prev', HASH_BYTES);
  const depsRaw = obj.deps;
  if (!Array.isArray(depsRaw)) bad('deps', 'must be a list of block ids');
  if (depsRaw.length > MAX_DEPS) {
    throw new BlyanError('BLOCK_BAD_DEPS', `a block may have at most ${MAX_DEPS} deps, this one has ${depsRaw.length}`);
  }
  const deps: Hash[] = [];
  for (const d of depsRaw) {
    if (!(d instanceof Uint8Array) || d.byteLength !== HASH_BYTES) bad('deps', `entries must be ${HASH_BYTES}-byte block ids`);
    const last = deps[deps.length - 1];
    if (last !== undefined && compareBytes(last, d) >= 0) {
      throw new BlyanError('BLOCK_BAD_DEPS', 'deps must be strictly ascending (sorted, no duplicates)');
    }
    deps.push(d);
  }
  const expert = nameField(obj, 'expert');
  const layer = obj.layer === null ? null : uintField(obj, 'layer', MAX_LAYER);
  const header: BlockHeader = {
    v: 1,
    chain,
    index,
    prev,
    deps,
    type: type as BlockType,
    expert,
    layer,
    payloadHash: bytesField(obj, 'payloadHash', HASH_BYTES),
    payloadSize: uintField(obj, 'payloadSize'),
    tileRoot: bytesField(obj, 'tileRoot', HASH_BYTES),
    time: uintField(obj, 'time', MAX_TIME_MS),
    nonce: bytesField(obj, 'nonce', NONCE_BYTES),
    difficulty: uintField(obj, 'difficulty', 255),
    author: bytesField(obj, 'author', ADDRESS_BYTES),
  };
  checkShape(header);
  return header;
}

/** Field combinations that depend on the chain and type (rule S4). */
function checkShape(h: BlockHeader): void {
  if (h.chain === 'B') {
    if (h.prev !== null) bad('prev', 'must be null on chain B (a DAG links through deps)');
    if (h.expert === null) bad('expert', 'must name the component a chain-B block holds');
    if (h.deps.length === 0) {
      throw new BlyanError('BLOCK_BAD_DEPS', 'a chain-B block must depend on its model block on chain A');
    }
    const m = /^layer(\d+)\.(.+)$/.exec(h.expert);
    const nameLayer = m === null ? null : Number(m[1]);
    if (nameLayer !== h.layer) bad('layer', `must be ${nameLayer === null ? 'null' : nameLayer} for component "${h.expert}"`);
    if (h.type === 'router' && !/^layer\d+\.router$/.test(h.expert)) bad('expert', 'of a router block must be "layer{L}.router"');
    if (h.type === 'expert' && !/^layer\d+\.(expert\d+|shared)$/.test(h.expert)) {
      bad('expert', 'of an expert block must be "layer{L}.expert{E}" or "layer{L}.shared"');
    }
  } else {
    if (h.expert !== null) bad('expert', `must be null on chain ${h.chain}`);
    if (h.layer !== null) bad('layer', `must be null on chain ${h.chain}`);
    if ((h.index === 0) !== (h.prev === null)) bad('prev', 'must be null exactly at index 0 of a linear chain');
    if ((h.index === 0) !== (h.type === 'genesis')) bad('type', 'must be "genesis" exactly at index 0 of a linear chain');
  }
}

/**
 * Decodes header bytes strictly: size bound first, then the canonical layout with the field checks (rules
 * E1–E3, S1–S4). Bytes in any other layout go to decodeHeaderReference, so every rejection carries the
 * same code and message as there, at the reference's cost (only invalid input pays it).
 */
export function decodeHeader(bytes: Uint8Array): BlockHeader {
  if (bytes.byteLength > MAX_HEADER_BYTES) {
    throw new BlyanError('BLOCK_TOO_LARGE', `header is ${bytes.byteLength} bytes; the limit is ${MAX_HEADER_BYTES}`);
  }
  const raw = scanCanonicalHeader(bytes);
  // The scanner yields exactly the map @ipld/dag-cbor would, so the field checks decide as they do there.
  if (raw !== undefined) return parseFields(raw);
  return decodeHeaderReference(bytes);
}

/**
 * The reference decoder, the definition decodeHeader must agree with (test/chain/headerDecode.property.test.ts):
 * generic strict DAG-CBOR, the field checks, then re-encoding, which must reproduce the input (what the
 * parser tolerates: key order, floats for integers, undefined for null). About 10x slower than decodeHeader.
 */
export function decodeHeaderReference(bytes: Uint8Array): BlockHeader {
  if (bytes.byteLength > MAX_HEADER_BYTES) {
    throw new BlyanError('BLOCK_TOO_LARGE', `header is ${bytes.byteLength} bytes; the limit is ${MAX_HEADER_BYTES}`);
  }
  let value: unknown;
  try {
    value = decodeUntrustedCbor(bytes);
  } catch (err) {
    throw new BlyanError('BLOCK_MALFORMED', `header is not valid DAG-CBOR: ${(err as Error).message}`, {}, { cause: err });
  }
  const header = parseHeader(value);
  if (!equalBytes(encodeHeader(header), bytes)) {
    throw new BlyanError('BLOCK_NOT_CANONICAL', 'header bytes are not the canonical encoding of their fields');
  }
  return header;
}

export function encodeRecord(block: Pick<Block, 'headerBytes' | 'sig'>): Uint8Array {
  const out = new Uint8Array(block.headerBytes.byteLength + SIGNATURE_BYTES);
  out.set(block.headerBytes, 0);
  out.set(block.sig, block.headerBytes.byteLength);
  return out;
}

/** Record = header bytes ‖ signature. Copies nothing it keeps from `record` except via subarray views. */
export function decodeRecord(record: Uint8Array): Block {
  if (record.byteLength > MAX_HEADER_BYTES + SIGNATURE_BYTES) {
    throw new BlyanError('BLOCK_TOO_LARGE', `block record is ${record.byteLength} bytes; the limit is ${MAX_HEADER_BYTES + SIGNATURE_BYTES}`);
  }
  if (record.byteLength <= SIGNATURE_BYTES) {
    throw new BlyanError('BLOCK_MALFORMED', `block record is truncated (${record.byteLength} bytes)`);
  }
  const headerBytes = record.subarray(0, record.byteLength - SIGNATURE_BYTES);
  const sig = record.subarray(record.byteLength - SIGNATURE_BYTES);
  const header = decodeHeader(headerBytes);
  return { header, headerBytes, id: blockIdOf(headerBytes), sig };
}
