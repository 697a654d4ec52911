import * as dagCbor from '@ipld/dag-cbor';
import { decodeUntrustedCbor } from '../cborBounds.ts';
import { BlyanError } from '../errors.ts';
import { MAX_AMOUNT } from './amount.ts';
import type { LedgerParams, TrustLevel } from './params.ts';
import { type Hex20, hexAddress } from './systemAccounts.ts';

/**
 * The payload of a chain-A `params` block (docs/ledger.md §6.1): the network's economic parameters from
 * `activeFrom` on. It is complete (every field, not a patch), so the parameters in force at any time are one
 * block, and a reader never has to fold a history. Canonical DAG-CBOR; integers that may exceed 2^53 are
 * decimal strings; addresses are 20-byte strings.
 *
 *   {v: 1, activeFrom, authorities: [bytes20…], pricing: {perKiloToken, burnBps, maxQuoteTtlMs, maxTokensPerQuery},
 *    freeTier: {dailyQuota: {new, active, contributor, trusted}, maxTokensPerRequest, activeNonce, trustedStake, trustedRewards},
 *    rewards: {deltaPerPercent, deltaCap, usageBase, usageUnit, usageCapPpm, speedCapPpm, qualityCapPpm, recencyCapPpm,
 *              validatorPerEpoch, epochMs}}
 *   v2: the same keys plus `producer: bytes20`, the ledger producer (docs/ledger.md §9.4).
 * Versions rather than an optional key: P1 refuses unknown keys, so a v1 reader refuses a v2 block outright
 * (ignoring it) instead of half-understanding it; and a change without a producer is still written as v1, so
 * every block an older node accepted keeps its bytes and meaning.
 */
export interface ParamsChange {
  /** Block time (ms) from which these parameters apply; at least PARAMS_NOTICE_MS after the block's own time. */
  readonly activeFrom: number;
  readonly authorities: readonly Hex20[];
  readonly pricing: LedgerParams['pricing'];
  readonly freeTier: LedgerParams['freeTier'];
  readonly rewards: LedgerParams['rewards'];
  /** The ledger producer from `activeFrom` on; null: any author (a v1 payload). */
  readonly producer: Hex20 | null;
}

export const MAX_AUTHORITIES = 64;
const UINT = /^(0|[1-9][0-9]{0,77})$/;

function bad(why: string): never {
  throw new BlyanError('LEDGER_BAD_PARAMS', `params block: ${why}`);
}

function int(v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) bad(`${what} must be an integer 0 … ${max}`);
  return v;
}

function big(v: unknown, what: string, max = MAX_AMOUNT): bigint {
  if (typeof v !== 'string' || !UINT.test(v)) bad(`${what} must be a decimal string`);
  const n = BigInt(v);
  if (n > max) bad(`${what} is too large`);
  return n;
}

function obj(v: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) bad(`${what} must be a map`);
  const o = v as Record<string, unknown>;
  const got = Object.keys(o).sort();
  const want = [...keys].sort();
  if (got.length !== want.length || got.some((k, i) => k !== want[i])) bad(`${what} must have exactly the keys ${want.join(', ')}`);
  return o;
}

const TRUST: readonly TrustLevel[] = ['new', 'active', 'contributor', 'trusted'];

export function encodeParamsChange(c: ParamsChange): Uint8Array {
  validateParamsChange(c);
  const s = (n: bigint) => n.toString();
  const addr = (a: Hex20) => new Uint8Array(Buffer.from(a.slice(2), 'hex'));
  return dagCbor.encode({
    v: c.producer === null ? 1 : 2,
    ...(c.producer === null ? {} : { producer: addr(c.producer) }),
    activeFrom: c.activeFrom,
    authorities: c.authorities.map(addr),
    pricing: { perKiloToken: s(c.pricing.perKiloToken), burnBps: s(c.pricing.burnBps), maxQuoteTtlMs: c.pricing.maxQuoteTtlMs, maxTokensPerQuery: s(c.pricing.maxTokensPerQuery) },
    freeTier: {
      dailyQuota: { ...c.freeTier.dailyQuota },
      maxTokensPerRequest: s(c.freeTier.maxTokensPerRequest),
      activeNonce: s(c.freeTier.activeNonce),
      trustedStake: s(c.freeTier.trustedStake),
      trustedRewards: s(c.freeTier.trustedRewards),
    },
    rewards: {
      deltaPerPercent: s(c.rewards.deltaPerPercent),
      deltaCap: s(c.rewards.deltaCap),
      usageBase: s(c.rewards.usageBase),
      usageUnit: s(c.rewards.usageUnit),
      usageCapPpm: s(c.rewards.usageCapPpm),
      speedCapPpm: s(c.rewards.speedCapPpm),
      qualityCapPpm: s(c.rewards.qualityCapPpm),
      recencyCapPpm: s(c.rewards.recencyCapPpm),
      validatorPerEpoch: s(c.rewards.validatorPerEpoch),
      epochMs: c.rewards.epochMs,
    },
  });
}

/** Strict decoding: exactly the fields above, canonical bytes, sane ranges. */
export function decodeParamsChange(bytes: Uint8Array): ParamsChange {
  let raw: unknown;
  try {
    raw = decodeUntrustedCbor(bytes);
  } catch (err) {
    bad(`not DAG-CBOR (${(err as Error).message})`);
  }
  const version = typeof raw === 'object' && raw !== null && 'v' in raw ? (raw as { v: unknown }).v : undefined;
  if (version !== 1 && version !== 2) bad('version must be 1 or 2');
  const keys = ['v', 'activeFrom', 'authorities', 'pricing', 'freeTier', 'rewards'];
  const o = obj(raw, 'payload', version === 2 ? [...keys, 'producer'] : keys);
  let producer: Hex20 | null = null;
  if (version === 2) {
    if (!(o.producer instanceof Uint8Array) || o.producer.byteLength !== 20) bad('producer must be a 20-byte address');
    producer = hexAddress(o.producer);
  }
  if (!Array.isArray(o.authorities)) bad('authorities must be a list');
  const authorities = o.authorities.map((a) => {
    if (!(a instanceof Uint8Array) || a.byteLength !== 20) bad('every authority must be a 20-byte address');
    return hexAddress(a);
  });
  const p = obj(o.pricing, 'pricing', ['perKiloToken', 'burnBps', 'maxQuoteTtlMs', 'maxTokensPerQuery']);
  const f = obj(o.freeTier, 'freeTier', ['dailyQuota', 'maxTokensPerRequest', 'activeNonce', 'trustedStake', 'trustedRewards']);
  const q = obj(f.dailyQuota, 'freeTier.dailyQuota', TRUST);
  const r = obj(o.rewards, 'rewards', ['deltaPerPercent', 'deltaCap', 'usageBase', 'usageUnit', 'usageCapPpm', 'speedCapPpm', 'qualityCapPpm', 'recencyCapPpm', 'validatorPerEpoch', 'epochMs']);
  const change: ParamsChange = {
    activeFrom: int(o.activeFrom, 'activeFrom'),
    authorities,
    pricing: { perKiloToken: big(p.perKiloToken, 'pricing.perKiloToken'), burnBps: big(p.burnBps, 'pricing.burnBps'), maxQuoteTtlMs: int(p.maxQuoteTtlMs, 'pricing.maxQuoteTtlMs'), maxTokensPerQuery: big(p.maxTokensPerQuery, 'pricing.maxTokensPerQuery') },
    freeTier: {
      dailyQuota: { new: int(q.new, 'dailyQuota.new', 1e6), active: int(q.active, 'dailyQuota.active', 1e6), contributor: int(q.contributor, 'dailyQuota.contributor', 1e6), trusted: int(q.trusted, 'dailyQuota.trusted', 1e6) },
      maxTokensPerRequest: big(f.maxTokensPerRequest, 'freeTier.maxTokensPerRequest'),
      activeNonce: big(f.activeNonce, 'freeTier.activeNonce'),
      trustedStake: big(f.trustedStake, 'freeTier.trustedStake'),
      trustedRewards: big(f.trustedRewards, 'freeTier.trustedRewards'),
    },
    rewards: {
      deltaPerPercent: big(r.deltaPerPercent, 'rewards.deltaPerPercent'),
      deltaCap: big(r.deltaCap, 'rewards.deltaCap'),
      usageBase: big(r.usageBase, 'rewards.usageBase'),
      usageUnit: big(r.usageUnit, 'rewards.usageUnit'),
      usageCapPpm: big(r.usageCapPpm, 'rewards.usageCapPpm'),
      speedCapPpm: big(r.speedCapPpm, 'rewards.speedCapPpm'),
      qualityCapPpm: big(r.qualityCapPpm, 'rewards.qualityCapPpm'),
      recencyCapPpm: big(r.recencyCapPpm, 'rewards.recencyCapPpm'),
      validatorPerEpoch: big(r.validatorPerEpoch, 'rewards.validatorPerEpoch'),
      epochMs: int(r.epochMs, 'rewards.epochMs'),
    },
    producer,
  };
  validateParamsChange(change);
  // One byte string per value (as for headers): re-encoding must give the same bytes.
  if (Buffer.compare(Buffer.from(encodeParamsChange(change)), Buffer.from(bytes)) !== 0) bad('not canonical DAG-CBOR');
  return change;
}

/** Ranges that keep the ledger's arithmetic meaningful (a burn above 100% would mint from escrow). */
export function validateParamsChange(c: ParamsChange): void {
  if (c.authorities.length === 0 || c.authorities.length > MAX_AUTHORITIES) bad(`1 … ${MAX_AUTHORITIES} authorities`);
  if (new Set(c.authorities).size !== c.authorities.length) bad('authorities must not repeat');
  if (c.pricing.perKiloToken === 0n) bad('the price must be positive (free use is the free tier)');
  if (c.pricing.burnBps > 10_000n) bad('burnBps is at most 10,000 (100%)');
  if (c.pricing.maxQuoteTtlMs < 1000 || c.pricing.maxQuoteTtlMs > 86_400_000) bad('maxQuoteTtlMs is 1 s … 1 day');
  if (c.pricing.maxTokensPerQuery === 0n || c.pricing.maxTokensPerQuery > 2n ** 63n) bad('maxTokensPerQuery is 1 … 2^63');
  if (c.freeTier.maxTokensPerRequest > c.pricing.maxTokensPerQuery) bad('a free request cannot be larger than any query');
  if (c.rewards.usageUnit === 0n) bad('rewards.usageUnit must be positive');
  if (c.rewards.epochMs < 60_000) bad('rewards.epochMs is at least a minute');
}

/** The parameters a change makes, on a network whose chain id and genesis balances stay what they were. */
export function applyParamsChange(base: LedgerParams, c: ParamsChange): LedgerParams {
  return {
    chainId: base.chainId,
    genesis: base.genesis,
    authorities: [...c.authorities],
    producer: c.producer,
    pricing: { ...c.pricing },
    freeTier: { ...c.freeTier, dailyQuota: { ...c.freeTier.dailyQuota } },
    rewards: { ...c.rewards },
  };
}

/** The change that would keep `p` as it is (a starting point for editing). */
export function changeOf(p: LedgerParams, activeFrom: number): ParamsChange {
  return { activeFrom, authorities: [...p.authorities], producer: p.producer, pricing: { ...p.pricing }, freeTier: { ...p.freeTier, dailyQuota: { ...p.freeTier.dailyQuota } }, rewards: { ...p.rewards } };
}
