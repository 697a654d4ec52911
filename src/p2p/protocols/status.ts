import '../polyfill.ts';
import * as dagCbor from '@ipld/dag-cbor';
import type { Libp2p, PeerId } from '@libp2p/interface';
import { z } from 'zod';
import type { BlockStore } from '../../chain/store.ts';
import { equalBytes, type Hash, toHex } from '../../chain/hash.ts';
import { CHAINS, type ChainLetter } from '../../chain/types.ts';
import { BlyanError } from '../../errors.ts';
import { decodeBody, RpcError, type RpcLimits, rpcRequest } from './rpc.ts';

/**
 * `/blyan/status/1` (docs/sync-protocol.md §4): each side tells the other which network it is on and how
 * far each chain goes. The request and the response carry the same message. A peer on another network
 * (genesis id or chain id) gets the error WRONG_GENESIS and is disconnected.
 */
export const STATUS_PROTOCOL = '/blyan/status/1';
export const STATUS_LIMITS: RpcLimits = { requestBytes: 1024, responseBytes: 1024 };

export interface ChainHead {
  /** Blocks in the chain's sequence (A, C, D: height; B: the sender's local count). */
  readonly n: number;
  /** Id at position n − 1, null when n = 0. */
  readonly id: Hash | null;
}

export interface StatusMessage {
  readonly v: 1;
  readonly network: string;
  readonly chainId: number;
  readonly genesis: Hash;
  readonly heads: Readonly<Record<ChainLetter, ChainHead>>;
}

const bytes32 = z.instanceof(Uint8Array).refine((b) => b.byteLength === 32, 'must be 32 bytes');
const head = z.object({ n: z.number().int().nonnegative().max(2 ** 32), id: bytes32.nullable() }).strict();
const StatusSchema = z
  .object({
    v: z.literal(1),
    network: z.string().max(64),
    chainId: z.number().int().nonnegative().max(2 ** 32 - 1),
    genesis: bytes32,
    heads: z.object({ A: head, B: head, C: head, D: head }).strict(),
  })
  .strict();

/** Heads with hex ids, for logs and `--json`. */
export type HeadsJson = Record<ChainLetter, { readonly n: number; readonly id: string | null }>;

export function headsJson(heads: StatusMessage['heads']): HeadsJson {
  const out = {} as Record<ChainLetter, { n: number; id: string | null }>;
  for (const c of CHAINS) out[c] = { n: heads[c].n, id: heads[c].id === null ? null : toHex(heads[c].id) };
  return out;
}

export function encodeStatus(s: StatusMessage): Uint8Array {
  return dagCbor.encode({ v: s.v, network: s.network, chainId: s.chainId, genesis: s.genesis, heads: s.heads });
}

export function decodeStatus(bytes: Uint8Array): StatusMessage {
  const s = decodeBody(bytes, StatusSchema, 'status');
  for (const c of CHAINS) {
    if ((s.heads[c].n === 0) !== (s.heads[c].id === null)) throw new BlyanError('P2P_MALFORMED', `status: chain ${c} head id must be null exactly when n is 0`);
  }
  return s;
}

/** This node's status, read from the store as it is on disk now. */
export function localStatus(store: BlockStore): StatusMessage {
  store.refreshHeads();
  const heads = {} as Record<ChainLetter, ChainHead>;
  for (const c of CHAINS) {
    const h = store.headOf(c);
    heads[c] = h === undefined ? { n: 0, id: null } : { n: h.seq + 1, id: h.id };
  }
  return { v: 1, network: store.preset.network, chainId: store.preset.chainId, genesis: store.genesisId(), heads };
}

/** Whether a peer's status is on our network; the reason when not. */
export function sameNetwork(ours: StatusMessage, theirs: StatusMessage): string | undefined {
  if (!equalBytes(ours.genesis, theirs.genesis)) return `peer is on genesis ${toHex(theirs.genesis).slice(0, 16)}…, this node on ${toHex(ours.genesis).slice(0, 16)}…`;
  if (ours.chainId !== theirs.chainId) return `peer is on chain id ${theirs.chainId}, this node on ${ours.chainId}`;
  return undefined;
}

export interface StatusServerDeps {
  readonly store: BlockStore;
  /** A peer told us its status and it is on our network. */
  readonly onPeerStatus: (peer: PeerId, status: StatusMessage) => void;
  /** A peer is on another network (called at once, before the refusal is sent): note it, then ban it. */
  readonly onWrongNetwork: (peer: PeerId, reason: string) => void;
}

export function handleStatus(deps: StatusServerDeps): (request: Uint8Array, peer: PeerId) => readonly Uint8Array[] {
  return (request, peer) => {
    const theirs = decodeStatus(request);
    const ours = localStatus(deps.store);
    const reason = sameNetwork(ours, theirs);
    if (reason !== undefined) {
      deps.onWrongNetwork(peer, reason);
      throw new RpcError('WRONG_GENESIS', `${reason}; expected ${ours.network} (${toHex(ours.genesis)})`);
    }
    deps.onPeerStatus(peer, theirs);
    return [encodeStatus(ours)];
  };
}

/** Asks a peer for its status (sending ours); throws P2P_WRONG_GENESIS when it is on another network. */
export async function requestStatus(libp2p: Libp2p, peer: PeerId, ours: StatusMessage, timeoutMs: number): Promise<StatusMessage> {
  const content = await rpcRequest(libp2p, peer, encodeStatus(ours), { protocol: STATUS_PROTOCOL, limits: STATUS_LIMITS, timeoutMs });
  const theirs = decodeStatus(content);
  const reason = sameNetwork(ours, theirs);
  if (reason !== undefined) throw new BlyanError('P2P_WRONG_GENESIS', reason, { genesis: toHex(theirs.genesis), chainId: theirs.chainId });
  return theirs;
}
