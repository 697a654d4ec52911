import './polyfill.ts';
import * as dagCbor from '@ipld/dag-cbor';
import { decodeUntrustedCbor } from '../cborBounds.ts';
import { type Message, TopicValidatorResult } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import { z } from 'zod';
import { verifyStandalone } from '../chain/block.ts';
import { checkContext } from '../chain/dag.ts';
import { decodeRecord, encodeRecord } from '../chain/encoding.ts';
import { toHex } from '../chain/hash.ts';
import { MAX_HEADER_BYTES } from '../chain/limits.ts';
import { SIGNATURE_BYTES } from '../chain/sign.ts';
import type { BlockStore } from '../chain/store.ts';
import type { Block } from '../chain/types.ts';
import { BlyanError, isBlyanError } from '../errors.ts';
import type { AnyTx } from '../ledger/tx.ts';
import { ledgerDomain, verifyTx } from '../ledger/tx.ts';
import { decodeBatch, encodeBatch } from '../ledger/txCodec.ts';
import type { Host } from './host.ts';
import type { PenaltyReason } from './peerScore.ts';
import { BoundedSet } from '../boundedSet.ts';

/**
 * Gossip of new blocks and transactions (docs/sync-protocol.md §9), validated before it is forwarded, as
 * Lodestar does: each message is judged by the pure chain rules and gets one of
 *   accept — valid and new: stored (blocks), handed on (transactions), forwarded;
 *   ignore — not forwarded, the sender not blamed: duplicates, unknown parents (a sync is started),
 *            stale or competing heights, blocks from a little in the future;
 *   reject — invalid by a rule: not forwarded, and the peer that sent it is penalised (gossipsub's own
 *            score falls too).
 */
export const GOSSIP_INLINE_PAYLOAD_MAX = 1024 * 1024;
export const GOSSIP_MAX_BYTES = GOSSIP_INLINE_PAYLOAD_MAX + 16 * 1024;
export const TX_MESSAGE_MAX = 16 * 1024;

export function blockTopic(networkTag: string): string {
  return `/blyan/${networkTag}/block/1`;
}

export function txTopic(networkTag: string): string {
  return `/blyan/${networkTag}/tx/1`;
}

export type GossipVerdict = 'accept' | 'ignore' | 'reject';

const BlockMessage = z
  .object({
    record: z.instanceof(Uint8Array).refine((r) => r.byteLength > SIGNATURE_BYTES && r.byteLength <= MAX_HEADER_BYTES + SIGNATURE_BYTES),
    payload: z.instanceof(Uint8Array).refine((p) => p.byteLength <= GOSSIP_INLINE_PAYLOAD_MAX).nullable(),
  })
  .strict();

/** A block announcement: the record, and the payload when it is small enough to ride along. */
export function encodeBlockMessage(block: Block, payload: Uint8Array | undefined): Uint8Array {
  const inline = payload !== undefined && payload.byteLength <= GOSSIP_INLINE_PAYLOAD_MAX && payload.byteLength === block.header.payloadSize;
  return dagCbor.encode({ record: encodeRecord(block), payload: inline ? payload : null });
}

export function decodeBlockMessage(data: Uint8Array): { block: Block; payload: Uint8Array | undefined } {
  let value: unknown;
  try {
    value = decodeUntrustedCbor(data);
  } catch (err) {
    throw new BlyanError('P2P_MALFORMED', `block gossip is not DAG-CBOR: ${(err as Error).message}`);
  }
  const parsed = BlockMessage.safeParse(value);
  if (!parsed.success) throw new BlyanError('P2P_MALFORMED', 'block gossip must be {record, payload}');
  return { block: decodeRecord(parsed.data.record), payload: parsed.data.payload ?? undefined };
}

/**
 * The verdict on a block that failed a check (the error it threw). Pure, so the table is tested alone.
 * `unknownParent` tells the caller to start a sync.
 */
export function classifyBlockError(err: unknown, block: Block | undefined, headIndex: number | undefined): { verdict: GossipVerdict; unknownParent: boolean } {
  if (!isBlyanError(err)) return { verdict: 'ignore', unknownParent: false };
  switch (err.code) {
    case 'BLOCK_DUPLICATE':
    case 'BLOCK_FUTURE_TIME':
    // Our own ledger is stuck on a block stored earlier (src/ledger/blockGate.ts): not this sender's doing.
    case 'STORE_CORRUPT':
    // This node's chain C comes from its PostgreSQL ledger only: the block may be valid, it is just not ours to take.
    case 'LEDGER_FOREIGN_BLOCK':
      return { verdict: 'ignore', unknownParent: false };
    // A chain-C block that breaks a ledger rule against the state at its parent (docs/ledger.md §9.4): whoever
    // produced or relayed it sent a block no honest node stores.
    case 'LEDGER_BLOCK_INVALID':
    case 'LEDGER_NOT_PRODUCER':
      return { verdict: 'reject', unknownParent: false };
    case 'BLOCK_UNKNOWN_DEP':
      return { verdict: 'ignore', unknownParent: true };
    case 'BLOCK_BAD_PREV':
    case 'BLOCK_BAD_INDEX': {
      if (block === undefined || block.header.chain === 'B') return { verdict: 'reject', unknownParent: false };
      // Linear chains: ahead of our head means we are behind (sync); at or below it is a stale or
      // competing block, which an honest peer on a fork may send.
      const ahead = headIndex === undefined || block.header.index > headIndex + 1;
      return { verdict: 'ignore', unknownParent: ahead };
    }
    default:
      return { verdict: 'reject', unknownParent: false };
  }
}

export interface GossipDeps {
  readonly libp2p: Host;
  readonly store: BlockStore;
  readonly networkTag: string;
  readonly penalise: (peer: string, reason: PenaltyReason, err: unknown) => void;
  /**
   * A valid header arrived without its payload (too large to inline): fetch its tiles and append it. Resolves
   * with whether it was stored, or the code of what stopped it (a refusing ledger has blamed the sender).
   */
  readonly fetchPayload: (block: Block, from: PeerId) => Promise<PayloadFetch>;
  /** Gossip showed we are behind. */
  readonly requestSync: () => void;
  /** A signed, well-formed transaction for this network; the mempool decides. Defaults to accept. */
  readonly onTx?: ((tx: AnyTx, txId: string, from: string) => GossipVerdict) | undefined;
  readonly onEvent: (event: GossipEvent) => void;
}

export type PayloadFetch = { readonly stored: true } | { readonly stored: false; readonly code: string };

/** Codes of a fetched payload that make its block invalid, whoever relayed it (the fetcher has blamed them). */
const INVALID_PAYLOAD_CODES: ReadonlySet<string> = new Set(['LEDGER_BLOCK_INVALID', 'LEDGER_NOT_PRODUCER', 'BLOCK_BAD_PAYLOAD']);

export type GossipEvent =
  | { readonly type: 'gossip-block'; readonly verdict: GossipVerdict; readonly peer: string; readonly id?: string; readonly code?: string }
  | { readonly type: 'gossip-tx'; readonly verdict: GossipVerdict; readonly peer: string; readonly id?: string; readonly code?: string };

export class Gossip {
  /** Transaction ids seen recently, so a duplicate costs a set look-up. */
  private readonly seenTx = new BoundedSet(65_536);
  readonly blockTopic: string;
  readonly txTopic: string;

  constructor(private readonly deps: GossipDeps) {
    this.blockTopic = blockTopic(deps.networkTag);
    this.txTopic = txTopic(deps.networkTag);
  }

  start(): void {
    const pubsub = this.deps.libp2p.services.pubsub;
    pubsub.topicValidators.set(this.blockTopic, (peer, msg) => this.validateBlock(peer, msg));
    pubsub.topicValidators.set(this.txTopic, (peer, msg) => this.validateTx(peer, msg));
    pubsub.subscribe(this.blockTopic);
    pubsub.subscribe(this.txTopic);
  }

  stop(): void {
    const pubsub = this.deps.libp2p.services.pubsub;
    pubsub.topicValidators.delete(this.blockTopic);
    pubsub.topicValidators.delete(this.txTopic);
  }

  /** Announces a block this node produced or accepted (payload inlined when ≤ 1 MiB). Returns recipients. */
  async publishBlock(block: Block, payload?: Uint8Array): Promise<number> {
    const r = await this.deps.libp2p.services.pubsub.publish(this.blockTopic, encodeBlockMessage(block, payload));
    return r.recipients.length;
  }

  async publishTx(tx: AnyTx): Promise<number> {
    const r = await this.deps.libp2p.services.pubsub.publish(this.txTopic, encodeBatch([tx]));
    return r.recipients.length;
  }

  private verdict(v: GossipVerdict): TopicValidatorResult {
    return v === 'accept' ? TopicValidatorResult.Accept : v === 'ignore' ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject;
  }

  private validateBlock(peer: PeerId, msg: Message): TopicValidatorResult | Promise<TopicValidatorResult> {
    const from = peer.toString();
    let block: Block | undefined;
    let payload: Uint8Array | undefined;
    try {
      ({ block, payload } = decodeBlockMessage(msg.data));
      // A duplicate is the common case in a mesh: answer it before any expensive check.
      if (this.deps.store.has(block.id)) return this.report('ignore', from, block, 'BLOCK_DUPLICATE');
      const inline = payload !== undefined || block.header.payloadSize === 0;
      verifyStandalone(block, this.deps.store.preset, { ...(inline ? { payload: payload ?? new Uint8Array(0) } : {}), now: Date.now() });
      this.deps.store.refreshHeads();
      checkContext(block, this.deps.store, this.deps.store.preset);
      if (inline) {
        // S5–S8 were just checked; the store still applies every contextual rule in its transaction.
        this.deps.store.appendBatch([{ block, payload }], { verified: true });
      } else if (block.header.chain === 'C') {
        // A chain-C block is valid only if its transactions apply to the ledger (docs/ledger.md §9.4), which
        // its header cannot show: it is forwarded once its payload is fetched and stored through the ledger's
        // check, never before (gossipsub holds the message while this resolves).
        return this.awaitPayload(block, peer);
      } else {
        // The header is valid and extends what we have: forward it, and fetch the payload by tiles. (Its
        // tiles are checked against the signed header, which is all that makes a payload of A, B or D valid.)
        void this.deps.fetchPayload(block, peer);
      }
      return this.report('accept', from, block);
    } catch (err) {
      const head = block !== undefined && block.header.chain !== 'B' ? this.deps.store.head(block.header.chain) : undefined;
      const { verdict, unknownParent } = isBlyanError(err, 'P2P_MALFORMED') ? { verdict: 'reject' as const, unknownParent: false } : classifyBlockError(err, block, head?.header.index);
      if (unknownParent) this.deps.requestSync();
      if (verdict === 'reject') this.deps.penalise(from, 'bad-data', err);
      return this.report(verdict, from, block, isBlyanError(err) ? err.code : 'ERROR');
    }
  }

  private async awaitPayload(block: Block, peer: PeerId): Promise<TopicValidatorResult> {
    const from = peer.toString();
    let fetched: PayloadFetch;
    try {
      fetched = await this.deps.fetchPayload(block, peer);
    } catch (err) {
      fetched = { stored: false, code: isBlyanError(err) ? err.code : 'ERROR' };
    }
    if (fetched.stored || this.deps.store.has(block.id)) return this.report('accept', from, block);
    // Invalid: rejected (gossipsub lowers the sender's score; the fetch penalised whoever served it). Anything
    // else (no peer served the tiles in time, say) leaves the block unjudged: not forwarded, nobody blamed.
    return this.report(INVALID_PAYLOAD_CODES.has(fetched.code) ? 'reject' : 'ignore', from, block, fetched.code);
  }

  private report(verdict: GossipVerdict, peer: string, block: Block | undefined, code?: string): TopicValidatorResult {
    this.deps.onEvent({ type: 'gossip-block', verdict, peer, ...(block === undefined ? {} : { id: toHex(block.id) }), ...(code === undefined ? {} : { code }) });
    return this.verdict(verdict);
  }

  private validateTx(peer: PeerId, msg: Message): TopicValidatorResult {
    return this.verdict(this.receiveTx(msg.data, peer.toString()));
  }

  /**
   * One transaction message (the batch of exactly one signed transaction), from gossip or pushed directly
   * (`/blyan/tx/1`): checked, offered to the mempool once, reported; a sender of an invalid one is penalised.
   * On 'accept' a direct push is the caller's to forward (forwardTx); gossipsub forwards its own messages.
   * `penalise` lets a direct push answer the sender before the penalty (which may ban it) is applied.
   */
  receiveTx(data: Uint8Array, from: string, penalise: GossipDeps['penalise'] = this.deps.penalise): GossipVerdict {
    let id: string | undefined;
    try {
      if (data.byteLength > TX_MESSAGE_MAX) throw new BlyanError('P2P_FRAME_TOO_LARGE', `transaction message of ${data.byteLength} bytes`);
      const txs = decodeBatch(data);
      if (txs.length !== 1) throw new BlyanError('LEDGER_MALFORMED_TX', 'a transaction message carries exactly one transaction');
      const tx = txs[0] as AnyTx;
      id = toHex(verifyTx(tx, ledgerDomain(this.deps.store.preset.chainId)));
      if (this.seenTx.has(id)) return this.reportTx('ignore', from, id);
      this.seenTx.add(id);
      const v = this.deps.onTx?.(tx, id, from) ?? 'accept';
      if (v === 'reject') penalise(from, 'bad-data', new BlyanError('LEDGER_MALFORMED_TX', 'transaction refused by the mempool'));
      return this.reportTx(v, from, id);
    } catch (err) {
      penalise(from, 'bad-data', err);
      return this.reportTx('reject', from, id, isBlyanError(err) ? err.code : 'ERROR');
    }
  }

  /** Gossips a transaction message that reached this node outside gossip; false when gossip had already seen it. */
  async forwardTx(data: Uint8Array): Promise<boolean> {
    try {
      return (await this.deps.libp2p.services.pubsub.publish(this.txTopic, data)).recipients.length > 0;
    } catch (err) {
      if ((err as Error).message === 'PublishError.Duplicate') return false;
      throw err;
    }
  }

  private reportTx(verdict: GossipVerdict, peer: string, id: string | undefined, code?: string): GossipVerdict {
    this.deps.onEvent({ type: 'gossip-tx', verdict, peer, ...(id === undefined ? {} : { id }), ...(code === undefined ? {} : { code }) });
    return verdict;
  }
}
