import '../polyfill.ts';
import * as dagCbor from '@ipld/dag-cbor';
import type { Libp2p, PeerId } from '@libp2p/interface';
import { z } from 'zod';
import { BULK_TOKEN_BYTES } from './bulk.ts';
import { decodeBody, type RpcLimits, rpcRequest } from './rpc.ts';

/**
 * `/blyan/direct/1` (docs/expert-rpc.md §2.1): a ticket for one sealed session over the direct channel — the
 * TCP port of the bulk channel (§6.1 of docs/sync-protocol.md) — asked over the authenticated libp2p
 * connection. The answer names the port, a random token that admits exactly one connection, and a random
 * secret from which both direction keys derive (direct/sealedStream.ts). The requester connects, sends the
 * token, and from then on speaks the named session protocol (e.g. `/blyan/expert/2`) in sealed records.
 */
export const DIRECT_PROTOCOL = '/blyan/direct/1';
export const DIRECT_LIMITS: RpcLimits = { requestBytes: 128, responseBytes: 160 };
export const DIRECT_SECRET_BYTES = 32;

export interface DirectRequest {
  readonly v: 1;
  /** The session protocol to speak on the connection. */
  readonly protocol: string;
}

export interface DirectTicket {
  readonly v: 1;
  readonly port: number;
  readonly token: Uint8Array;
  readonly secret: Uint8Array;
  /** Milliseconds the token stays valid for its one connection. */
  readonly ttlMs: number;
}

const RequestSchema = z
  .object({
    v: z.literal(1),
    protocol: z.string().min(1).max(64),
  })
  .strict();

const TicketSchema = z
  .object({
    v: z.literal(1),
    port: z.number().int().min(1).max(65_535),
    token: z.instanceof(Uint8Array).refine((b) => b.byteLength === BULK_TOKEN_BYTES, `must be ${BULK_TOKEN_BYTES} bytes`),
    secret: z.instanceof(Uint8Array).refine((b) => b.byteLength === DIRECT_SECRET_BYTES, `must be ${DIRECT_SECRET_BYTES} bytes`),
    ttlMs: z.number().int().min(1).max(3600 * 1000),
  })
  .strict();

export function encodeDirectRequest(r: DirectRequest): Uint8Array {
  return dagCbor.encode({ v: r.v, protocol: r.protocol });
}

export function decodeDirectRequest(bytes: Uint8Array): DirectRequest {
  return decodeBody(bytes, RequestSchema, 'direct request');
}

export function encodeDirectTicket(t: DirectTicket): Uint8Array {
  return dagCbor.encode({ v: t.v, port: t.port, token: t.token, secret: t.secret, ttlMs: t.ttlMs });
}

export function decodeDirectTicket(bytes: Uint8Array): DirectTicket {
  return decodeBody(bytes, TicketSchema, 'direct ticket');
}

export async function requestDirectTicket(libp2p: Libp2p, peer: PeerId, protocol: string, timeoutMs: number): Promise<DirectTicket> {
  const answer = await rpcRequest(libp2p, peer, encodeDirectRequest({ v: 1, protocol }), { protocol: DIRECT_PROTOCOL, limits: DIRECT_LIMITS, timeoutMs });
  return decodeDirectTicket(answer);
}
