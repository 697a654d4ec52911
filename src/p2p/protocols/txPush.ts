import '../polyfill.ts';
import * as dagCbor from '@ipld/dag-cbor';
import type { Libp2p, PeerId } from '@libp2p/interface';
import { z } from 'zod';
import type { GossipVerdict } from '../gossip.ts';
import type { PenaltyReason } from '../peerScore.ts';
import { decodeBody, RpcError, type RpcLimits, rpcRequest } from './rpc.ts';

/**
 * `/blyan/tx/1` (docs/sync-protocol.md §9.1): a transaction handed to one peer directly, for when gossip did
 * not carry it. Gossipsub sends only over a stream it has already opened to a subscriber, and drops a
 * re-publish of the same bytes for two minutes, so a ledger follower whose first publish reached nobody (its
 * stream to the producer still opening) or went unanswered pushes the transaction here instead.
 *
 * The request is the transaction message exactly as gossiped (a batch of one signed transaction). The receiver
 * treats it as a gossiped one — checked, offered to its mempool once — and gossips on what it accepts. The
 * answer tells whether the receiver took it now ('accept') or already knew it ('ignore'); an invalid
 * transaction is a BAD_REQUEST and costs the sender score, as on the gossip topic.
 */
export const TX_PROTOCOL = '/blyan/tx/1';

export interface TxPushAnswer {
  readonly v: 1;
  readonly verdict: 'accept' | 'ignore';
}

const AnswerSchema = z.object({ v: z.literal(1), verdict: z.enum(['accept', 'ignore']) }).strict();

export function txLimits(messageMax: number): RpcLimits {
  return { requestBytes: messageMax, responseBytes: 64 };
}

export function encodeTxAnswer(a: TxPushAnswer): Uint8Array {
  return dagCbor.encode({ v: a.v, verdict: a.verdict });
}

export function decodeTxAnswer(bytes: Uint8Array): TxPushAnswer {
  return decodeBody(bytes, AnswerSchema, 'tx answer');
}

/** How long a refused pusher keeps its connection: long enough for the refusal to reach it. */
const PENALTY_DELAY_MS = 1000;

/**
 * The responder: `receive` is the gossip topic's own check (it reports, and penalises through the callback
 * it is given), `forward` gossips what was accepted. A forward that fails (no other peer) does not change the
 * answer: this node has it. A refused pusher gets the reason first, then its penalty (which may ban it).
 */
export function handleTx(deps: {
  receive: (message: Uint8Array, from: string, penalise: (peer: string, reason: PenaltyReason, err: unknown) => void) => GossipVerdict;
  forward: (message: Uint8Array) => Promise<unknown>;
  penalise: (peer: string, reason: PenaltyReason, err: unknown) => void;
}): (request: Uint8Array, peer: PeerId) => readonly Uint8Array[] {
  return (request, peer) => {
    let why = 'refused by the mempool';
    const verdict = deps.receive(request, peer.toString(), (p, reason, err) => {
      if (err instanceof Error) why = err.message;
      setTimeout(() => deps.penalise(p, reason, err), PENALTY_DELAY_MS).unref();
    });
    if (verdict === 'reject') throw new RpcError('BAD_REQUEST', `transaction refused: ${why}`.slice(0, 200));
    if (verdict === 'accept') void deps.forward(request).catch(() => undefined);
    return [encodeTxAnswer({ v: 1, verdict })];
  };
}

/** Pushes one transaction message to `peer`; resolves with its answer, throws a typed P2P error otherwise. */
export async function pushTx(libp2p: Libp2p, peer: PeerId, message: Uint8Array, limits: RpcLimits, timeoutMs: number): Promise<TxPushAnswer> {
  return decodeTxAnswer(await rpcRequest(libp2p, peer, message, { protocol: TX_PROTOCOL, limits, timeoutMs }));
}
