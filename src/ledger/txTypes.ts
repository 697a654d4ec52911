import { BlyanError } from '../errors.ts';
import type { FieldType, FieldValue, TypedField } from './eip712.ts';
import type { Hex20 } from './systemAccounts.ts';

/**
 * The ledger's transaction kinds as EIP-712 struct types (docs/ledger.md §2). Every type starts with
 * `address from` (the signer) and ends with `uint64 nonce`, so one rule covers authorship and replay.
 * Field order is part of the type hash: never reorder, add a new kind instead.
 */
export const TX_TYPES = {
  Transfer: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'amount', type: 'uint256' },
    { name: 'nonce', type: 'uint64' },
  ],
  Stake: [
    { name: 'from', type: 'address' },
    { name: 'amount', type: 'uint256' },
    { name: 'nonce', type: 'uint64' },
  ],
  Unstake: [
    { name: 'from', type: 'address' },
    { name: 'amount', type: 'uint256' },
    { name: 'nonce', type: 'uint64' },
  ],
  /** The user accepts a quote: `amount` moves to escrow until capture, release or expiry. amount 0 = free tier. */
  Authorize: [
    { name: 'from', type: 'address' },
    { name: 'provider', type: 'address' },
    { name: 'quoteId', type: 'bytes32' },
    { name: 'maxTokens', type: 'uint64' },
    { name: 'amount', type: 'uint256' },
    { name: 'expiresAt', type: 'uint64' },
    { name: 'nonce', type: 'uint64' },
  ],
  /** The provider charges for the tokens actually served (≤ maxTokens); the rest goes back to the user. */
  Capture: [
    { name: 'from', type: 'address' },
    { name: 'quoteId', type: 'bytes32' },
    { name: 'tokensUsed', type: 'uint64' },
    { name: 'nonce', type: 'uint64' },
  ],
  /** Returns a whole hold to the user: by the provider at any time (failed inference), by the user after expiry. */
  Release: [
    { name: 'from', type: 'address' },
    { name: 'quoteId', type: 'bytes32' },
    { name: 'nonce', type: 'uint64' },
  ],
  /** The provider reverses a captured payment, up to what it was credited. */
  Refund: [
    { name: 'from', type: 'address' },
    { name: 'quoteId', type: 'bytes32' },
    { name: 'amount', type: 'uint256' },
    { name: 'nonce', type: 'uint64' },
  ],
  /** A ledger authority pays from the treasury (the devnet faucet). */
  Grant: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'amount', type: 'uint256' },
    { name: 'nonce', type: 'uint64' },
  ],
  /** A ledger authority pays a miner for an accepted delta (a reward record of the learning loop). */
  DeltaReward: [
    { name: 'from', type: 'address' },
    { name: 'miner', type: 'address' },
    { name: 'deltaBlock', type: 'bytes32' },
    { name: 'model', type: 'bytes32' },
    { name: 'component', type: 'string' },
    { name: 'improvementPpm', type: 'uint64' },
    { name: 'nonce', type: 'uint64' },
  ],
  /** A ledger authority pays an expert host for an epoch of usage. Factors are parts per million. */
  UsageReward: [
    { name: 'from', type: 'address' },
    { name: 'host', type: 'address' },
    { name: 'expert', type: 'string' },
    { name: 'epoch', type: 'uint64' },
    { name: 'usage', type: 'uint64' },
    { name: 'speedPpm', type: 'uint64' },
    { name: 'qualityPpm', type: 'uint64' },
    { name: 'recencyPpm', type: 'uint64' },
    { name: 'nonce', type: 'uint64' },
  ],
  /** A ledger authority splits one epoch's validator reward among that epoch's validators. */
  ValidatorReward: [
    { name: 'from', type: 'address' },
    { name: 'epoch', type: 'uint64' },
    { name: 'validators', type: 'address[]' },
    { name: 'nonce', type: 'uint64' },
  ],
} as const satisfies Record<string, readonly TypedField[]>;

export type TxKind = keyof typeof TX_TYPES;
export const TX_KINDS = Object.keys(TX_TYPES) as TxKind[];

export type Hex32 = `0x${string}`;
type ValueOf<T extends FieldType> = T extends 'address'
  ? Hex20
  : T extends 'bytes32'
    ? Hex32
    : T extends 'uint64' | 'uint256'
      ? bigint
      : T extends 'string'
        ? string
        : readonly Hex20[];

/** The message of a kind, as viem's signTypedData takes it. */
export type MessageOf<K extends TxKind> = {
  readonly [F in (typeof TX_TYPES)[K][number] as F['name']]: ValueOf<F['type']>;
};

export function isTxKind(x: unknown): x is TxKind {
  return typeof x === 'string' && Object.hasOwn(TX_TYPES, x);
}

export const MAX_STRING_CHARS = 96;
export const MAX_ADDRESS_LIST = 256;
const U64_MAX = 2n ** 64n - 1n;
const U256_MAX = 2n ** 256n - 1n;
const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const BYTES32_RE = /^0x[0-9a-fA-F]{64}$/;
const UINT_RE = /^(0|[1-9][0-9]*)$/;

function bad(kind: string, field: string, why: string): never {
  throw new BlyanError('LEDGER_MALFORMED_TX', `${kind}.${field} ${why}`, { kind, field });
}

function parseUint(kind: string, field: string, v: unknown, max: bigint): bigint {
  let n: bigint;
  if (typeof v === 'bigint') n = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
  else if (typeof v === 'string' && UINT_RE.test(v) && v.length <= 78) n = BigInt(v);
  else return bad(kind, field, 'must be a non-negative integer (decimal string or bigint)');
  if (n < 0n) bad(kind, field, 'must not be negative');
  if (n > max) {
    // An amount beyond uint256 cannot even be signed: report it as the overflow it is.
    if (max === U256_MAX) throw new BlyanError('LEDGER_AMOUNT_OVERFLOW', `${kind}.${field} exceeds uint256`, { kind, field });
    bad(kind, field, `must be at most ${max}`);
  }
  return n;
}

function parseField(kind: string, f: TypedField, v: unknown): FieldValue {
  switch (f.type) {
    case 'address':
      if (typeof v !== 'string' || !ADDRESS_RE.test(v)) bad(kind, f.name, 'must be an address (0x + 40 hex digits)');
      return v.toLowerCase();
    case 'bytes32':
      if (typeof v !== 'string' || !BYTES32_RE.test(v)) bad(kind, f.name, 'must be 32 bytes of 0x-hex');
      return v.toLowerCase();
    case 'uint64':
      return parseUint(kind, f.name, v, U64_MAX);
    case 'uint256':
      return parseUint(kind, f.name, v, U256_MAX);
    case 'string':
      if (typeof v !== 'string' || v.length > MAX_STRING_CHARS) bad(kind, f.name, `must be a string of at most ${MAX_STRING_CHARS} characters`);
      return v;
    case 'address[]': {
      if (!Array.isArray(v) || v.length > MAX_ADDRESS_LIST) bad(kind, f.name, `must be a list of at most ${MAX_ADDRESS_LIST} addresses`);
      return v.map((a: unknown) => {
        if (typeof a !== 'string' || !ADDRESS_RE.test(a)) bad(kind, f.name, 'must hold only addresses');
        return a.toLowerCase();
      });
    }
  }
}

/**
 * Checks and normalises a message for `kind`: exactly its fields, each of its type; addresses and
 * bytes32 lowercased, integers as bigint. Anything else is LEDGER_MALFORMED_TX.
 */
export function parseMessage<K extends TxKind>(kind: K, raw: unknown): MessageOf<K> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad(kind, 'message', 'must be an object');
  const obj = raw as Record<string, unknown>;
  const fields: readonly TypedField[] = TX_TYPES[kind];
  for (const k of Object.keys(obj)) if (!fields.some((f) => f.name === k)) bad(kind, k.slice(0, 40), 'is not a field of this type');
  const out: Record<string, FieldValue> = {};
  for (const f of fields) {
    if (!(f.name in obj)) bad(kind, f.name, 'is missing');
    out[f.name] = parseField(kind, f, obj[f.name]);
  }
  return out as unknown as MessageOf<K>;
}
