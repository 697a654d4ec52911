import * as dagCbor from '@ipld/dag-cbor';
import { decodeUntrustedCbor } from '../cborBounds.ts';
import { z } from 'zod';
import { BlyanError } from '../errors.ts';
import type { FieldValue, TypedField } from './eip712.ts';
import type { AnyTx } from './tx.ts';
import { isTxKind, parseMessage, TX_TYPES, type TxKind } from './txTypes.ts';

/**
 * Two wire forms of a signed transaction (docs/ledger.md §5):
 *  - JSON, as an API takes it: viem's signTypedData arguments plus the signature
 *    `{domain, primaryType, message, signature}` (integers as decimal strings);
 *  - DAG-CBOR inside a chain-C `txbatch` payload: `{v: 1, txs: [{k, d, m, s}]}` with addresses and
 *    bytes32 as byte strings and integers as decimal strings.
 */
export const MAX_TXS_PER_BATCH = 20_000;

const JsonTx = z.object({
  domain: z.object({ name: z.string().max(64), version: z.string().max(16), chainId: z.number().int().nonnegative().max(2 ** 32 - 1) }).strict(),
  primaryType: z.string().max(32),
  message: z.record(z.string(), z.unknown()),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
});

export interface JsonSignedTx {
  domain: { name: string; version: string; chainId: number };
  primaryType: TxKind;
  message: Record<string, string | string[]>;
  signature: string;
}

function malformed(why: string): never {
  throw new BlyanError('LEDGER_MALFORMED_TX', why);
}

export function txFromJson(raw: unknown): AnyTx {
  const parsed = JsonTx.safeParse(raw);
  if (!parsed.success) malformed(`not a signed transaction: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`.trim());
  const { domain, primaryType, message, signature } = parsed.data;
  if (!isTxKind(primaryType)) malformed(`unknown transaction type "${primaryType.slice(0, 32)}"`);
  return { kind: primaryType, domain, message: parseMessage(primaryType, message), sig: new Uint8Array(Buffer.from(signature.slice(2), 'hex')) } as AnyTx;
}

export function txToJson(tx: AnyTx): JsonSignedTx {
  const message: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(tx.message as Record<string, FieldValue>)) {
    message[k] = typeof v === 'bigint' ? v.toString() : Array.isArray(v) ? [...v] : (v as string);
  }
  return { domain: { ...tx.domain }, primaryType: tx.kind, message, signature: `0x${Buffer.from(tx.sig).toString('hex')}` };
}

function fieldToCbor(f: TypedField, v: FieldValue): unknown {
  switch (f.type) {
    case 'address':
    case 'bytes32':
      return Buffer.from((v as string).slice(2), 'hex');
    case 'uint64':
    case 'uint256':
      return (v as bigint).toString();
    case 'string':
      return v;
    case 'address[]':
      return (v as readonly string[]).map((a) => Buffer.from(a.slice(2), 'hex'));
  }
}

function fieldFromCbor(f: TypedField, v: unknown): unknown {
  switch (f.type) {
    case 'address':
    case 'bytes32':
      return v instanceof Uint8Array ? `0x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}` : v;
    case 'address[]':
      return Array.isArray(v) ? v.map((a) => (a instanceof Uint8Array ? `0x${Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex')}` : a)) : v;
    default:
      return v;
  }
}

export function encodeBatch(txs: readonly AnyTx[]): Uint8Array {
  return dagCbor.encode({
    v: 1,
    txs: txs.map((tx) => {
      const fields: readonly TypedField[] = TX_TYPES[tx.kind];
      const m: Record<string, unknown> = {};
      for (const f of fields) m[f.name] = fieldToCbor(f, (tx.message as Record<string, FieldValue>)[f.name] as FieldValue);
      return { k: tx.kind, d: { name: tx.domain.name, version: tx.domain.version, chainId: tx.domain.chainId }, m, s: tx.sig };
    }),
  });
}

function badBatch(why: string): never {
  throw new BlyanError('LEDGER_BAD_BATCH', `txbatch payload ${why}`);
}

/** Strict decode of a txbatch payload: DAG-CBOR, version 1, 1 … MAX_TXS_PER_BATCH well-formed transactions. */
export function decodeBatch(payload: Uint8Array): AnyTx[] {
  let value: unknown;
  try {
    value = decodeUntrustedCbor(payload);
  } catch (err) {
    badBatch(`is not valid DAG-CBOR: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) badBatch('must be a map');
  const obj = value as Record<string, unknown>;
  if (obj.v !== 1) badBatch('has an unsupported version');
  const list = obj.txs;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_TXS_PER_BATCH) badBatch(`must hold 1 … ${MAX_TXS_PER_BATCH} transactions`);
  return list.map((entry: unknown) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) malformed('a batch entry must be a map');
    const e = entry as Record<string, unknown>;
    const kind = e.k;
    if (!isTxKind(kind)) malformed(`unknown transaction type ${typeof kind === 'string' ? `"${kind.slice(0, 32)}"` : ''}`);
    const d = e.d as Record<string, unknown> | null;
    if (d === null || typeof d !== 'object' || typeof d.name !== 'string' || typeof d.version !== 'string' || typeof d.chainId !== 'number') {
      malformed('a batch entry must carry its domain {name, version, chainId}');
    }
    const m = e.m;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) malformed('a batch entry must carry its message');
    const raw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
      const f = (TX_TYPES[kind] as readonly TypedField[]).find((x) => x.name === k);
      raw[k] = f === undefined ? v : fieldFromCbor(f, v);
    }
    if (!(e.s instanceof Uint8Array)) malformed('a batch entry must carry its signature');
    return { kind, domain: { name: d.name, version: d.version, chainId: d.chainId }, message: parseMessage(kind, raw), sig: e.s } as AnyTx;
  });
}
