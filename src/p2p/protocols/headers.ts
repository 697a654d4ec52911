import '../polyfill.ts';
import * as dagCbor from '@ipld/dag-cbor';
import type { Libp2p, PeerId } from '@libp2p/interface';
import { z } from 'zod';
import { MAX_HEADER_BYTES } from '../../chain/limits.ts';
import { SIGNATURE_BYTES } from '../../chain/sign.ts';
import type { BlockStore } from '../../chain/store.ts';
import { type ChainLetter, isChainLetter } from '../../chain/types.ts';
import { BlyanError } from '../../errors.ts';
import { decodeBody, RpcError, type RpcLimits, rpcRequest } from './rpc.ts';

/**
 * `/blyan/headers/1` (docs/sync-protocol.md §5): the block records (header bytes ‖ signature, as stored) at
 * positions from … from + count − 1 of one chain's sequence. A, C, D: position = block index. B: the
 * responder's local arrival order, which is a valid dependency order of its DAG.
 */
export const HEADERS_PROTOCOL = '/blyan/headers/1';
export const MAX_HEADERS_PER_REQUEST = 512;
const MAX_RECORD_BYTES = MAX_HEADER_BYTES + SIGNATURE_BYTES;
/** 512 records of at most 4161 bytes plus CBOR heads: 2.2 MB; the limit leaves room and stays fixed. */
export const HEADERS_LIMITS: RpcLimits = { requestBytes: 256, responseBytes: 4 * 1024 * 1024 };

export interface HeadersRequest {
  readonly chain: ChainLetter;
  readonly from: number;
  readonly count: number;
}

const RequestSchema = z
  .object({
    chain: z.string().refine(isChainLetter, 'must be A, B, C or D'),
    from: z.number().int().nonnegative().max(2 ** 32 - 1),
    count: z.number().int().min(1).max(MAX_HEADERS_PER_REQUEST),
  })
  .strict();

const ResponseSchema = z
  .object({
    records: z.array(z.instanceof(Uint8Array).refine((r) => r.byteLength > SIGNATURE_BYTES && r.byteLength <= MAX_RECORD_BYTES, 'record size out of range')).max(MAX_HEADERS_PER_REQUEST),
  })
  .strict();

export function encodeHeadersRequest(r: HeadersRequest): Uint8Array {
  return dagCbor.encode({ chain: r.chain, from: r.from, count: r.count });
}

export function decodeHeadersRequest(bytes: Uint8Array): HeadersRequest {
  const r = decodeBody(bytes, RequestSchema, 'headers request');
  return { chain: r.chain as ChainLetter, from: r.from, count: r.count };
}

export function handleHeaders(deps: { store: BlockStore; isKnownPeer: (peer: PeerId) => boolean }): (request: Uint8Array, peer: PeerId) => readonly Uint8Array[] {
  return (request, peer) => {
    const req = decodeHeadersRequest(request);
    if (!deps.isKnownPeer(peer)) throw new RpcError('STATUS_REQUIRED', 'exchange /blyan/status/1 first');
    const records: Uint8Array[] = [];
    for (let pos = req.from; pos < req.from + req.count; pos++) {
      const id = deps.store.idAt(req.chain, pos);
      if (id === undefined) break;
      const rec = deps.store.getRecord(id);
      if (rec === undefined) throw new RpcError('INTERNAL', 'store index names a missing block');
      records.push(rec);
    }
    return [dagCbor.encode({ records })];
  };
}

/** Fetches records; fewer than asked means the responder's chain ends there. */
export async function requestHeaders(libp2p: Libp2p, peer: PeerId, req: HeadersRequest, timeoutMs: number): Promise<Uint8Array[]> {
  const content = await rpcRequest(libp2p, peer, encodeHeadersRequest(req), { protocol: HEADERS_PROTOCOL, limits: HEADERS_LIMITS, timeoutMs });
  const { records } = decodeBody(content, ResponseSchema, 'headers response');
  if (records.length > req.count) throw new BlyanError('P2P_MALFORMED', `headers response: ${records.length} records for ${req.count} asked`);
  return records;
}
