import '../polyfill.ts';
import * as dagCbor from '@ipld/dag-cbor';
import type { Libp2p, PeerId } from '@libp2p/interface';
import { z } from 'zod';
import { decodeBody, type RpcLimits, rpcRequest } from './rpc.ts';

/**
 * `/blyan/bulk/1` (docs/sync-protocol.md §6.1): a ticket for the bulk channel, asked over the authenticated
 * libp2p connection. The answer names a TCP port on the same address and a random 32-byte token; the
 * requester opens plain TCP connections to it, sends the token, then asks tiles as on `/blyan/tile/1`.
 */
export const BULK_PROTOCOL = '/blyan/bulk/1';
export const BULK_LIMITS: RpcLimits = { requestBytes: 16, responseBytes: 128 };
export const BULK_TOKEN_BYTES = 32;

export interface BulkTicket {
  readonly v: 1;
  readonly port: number;
  readonly token: Uint8Array;
  /** Milliseconds the token stays valid for new connections. */
  readonly ttlMs: number;
}

const TicketSchema = z
  .object({
    v: z.literal(1),
    port: z.number().int().min(1).max(65_535),
    token: z.instanceof(Uint8Array).refine((b) => b.byteLength === BULK_TOKEN_BYTES, `must be ${BULK_TOKEN_BYTES} bytes`),
    ttlMs: z.number().int().min(1).max(24 * 3600 * 1000),
  })
  .strict();
const RequestSchema = z.object({ v: z.literal(1) }).strict();

export function encodeBulkRequest(): Uint8Array {
  return dagCbor.encode({ v: 1 });
}

export function decodeBulkRequest(bytes: Uint8Array): void {
  decodeBody(bytes, RequestSchema, 'bulk request');
}

export function encodeBulkTicket(t: BulkTicket): Uint8Array {
  return dagCbor.encode({ v: t.v, port: t.port, token: t.token, ttlMs: t.ttlMs });
}

export function decodeBulkTicket(bytes: Uint8Array): BulkTicket {
  return decodeBody(bytes, TicketSchema, 'bulk ticket');
}

export async function requestBulkTicket(libp2p: Libp2p, peer: PeerId, timeoutMs: number): Promise<BulkTicket> {
  return decodeBulkTicket(await rpcRequest(libp2p, peer, encodeBulkRequest(), { protocol: BULK_PROTOCOL, limits: BULK_LIMITS, timeoutMs }));
}
