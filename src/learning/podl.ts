/**
 * The Proof-of-Data-Learning manifest and the payload of a `delta` block (docs/proof-of-learning.md,
 * "Delta blocks"). Payload = DAG-CBOR { manifest, delta } where `delta` is the encoded delta
 * (deltaFormat.ts) and the manifest says what was trained, on what, from which version, by whom.
 */
import * as dagCbor from '@ipld/dag-cbor';
import { decodeUntrustedCbor } from '../cborBounds.ts';
import { z } from 'zod';
import type { Address } from '../chain/address.ts';
import { equalBytes, type Hash, sha256 } from '../chain/hash.ts';
import { BlyanError } from '../errors.ts';

export const PODL_VERSION = 1;

export interface PodlManifest {
  readonly v: 1;
  /** Model meta block (chain A) id. */
  readonly model: Hash;
  /** Component the delta modifies, e.g. "layer1.expert3"; equals the block's `expert`. */
  readonly component: string;
  /** The exact version (chain-B block id) the delta was computed against. */
  readonly base: Hash;
  /** Dataset block (chain D) the miner trained on. */
  readonly dataset: Hash;
  /** Shard ids of that dataset the miner trained on (sharding is deterministic: src/datasets). */
  readonly shards: readonly number[];
  readonly steps: number;
  /** Learning rate as a decimal string ("0.001"), so the manifest encodes canonically. */
  readonly lr: string;
  readonly seed: number;
  /** Training loss on the miner's shard before and after, as decimal strings (informational). */
  readonly trainLossBefore: string;
  readonly trainLossAfter: string;
  /** SHA-256 of the encoded delta bytes. */
  readonly deltaHash: Hash;
  /** Who trained it and is paid for it; equals the block's author. */
  readonly miner: Address;
}

export interface DeltaPayload {
  readonly manifest: PodlManifest;
  /** Encoded delta (deltaFormat.ts). */
  readonly delta: Uint8Array;
}

const bytes = (n: number) => z.instanceof(Uint8Array).refine((b) => b.byteLength === n, `must be ${n} bytes`);
const decimal = z.string().regex(/^-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,12})?$/, 'must be a decimal string like "0.001"');
const uint = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const Manifest = z.strictObject({
  v: z.literal(PODL_VERSION),
  model: bytes(32),
  component: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,95}$/),
  base: bytes(32),
  dataset: bytes(32),
  shards: z.array(uint).max(4096),
  steps: uint,
  lr: decimal,
  seed: uint,
  trainLossBefore: decimal,
  trainLossAfter: decimal,
  deltaHash: bytes(32),
  miner: bytes(20),
});
const Payload = z.strictObject({ manifest: Manifest, delta: z.instanceof(Uint8Array) });

/** A finite number as the decimal string a manifest carries (up to 12 fraction digits). */
export function decimalString(x: number): string {
  if (!Number.isFinite(x)) throw new BlyanError('BAD_ARGUMENT', `${x} is not a finite number`);
  const s = x.toFixed(12).replace(/\.?0+$/, '');
  return s === '-0' ? '0' : s;
}

export function encodeManifest(m: PodlManifest): Uint8Array {
  return dagCbor.encode(Manifest.parse(m));
}

/** Hash of a manifest's canonical encoding: replay protection keys on it. */
export function manifestHash(m: PodlManifest): Hash {
  return sha256(encodeManifest(m));
}

export function encodeDeltaPayload(p: DeltaPayload): Uint8Array {
  const manifest = Manifest.parse(p.manifest);
  if (!equalBytes(manifest.deltaHash, sha256(p.delta))) {
    throw new BlyanError('DELTA_MANIFEST_MISMATCH', 'the manifest deltaHash is not the SHA-256 of the delta bytes');
  }
  return dagCbor.encode({ manifest, delta: p.delta });
}

/**
 * Strict decoding of a delta block's payload: well-formed canonical DAG-CBOR, exactly the fields above
 * (DELTA_MALFORMED otherwise). Whether the manifest matches the delta and the chain is pol.ts's job.
 */
export function decodeDeltaPayload(payload: Uint8Array): DeltaPayload {
  let value: unknown;
  try {
    value = decodeUntrustedCbor(payload);
  } catch (err) {
    throw new BlyanError('DELTA_MALFORMED', `delta payload is not DAG-CBOR: ${(err as Error).message}`);
  }
  const parsed = Payload.safeParse(value);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new BlyanError('DELTA_MALFORMED', `delta payload is malformed at ${i?.path.join('.') ?? '?'}: ${i?.message ?? ''}`);
  }
  const out = parsed.data as DeltaPayload;
  if (!equalBytes(dagCbor.encode(out), payload)) throw new BlyanError('DELTA_MALFORMED', 'delta payload is not in canonical DAG-CBOR form');
  return out;
}
