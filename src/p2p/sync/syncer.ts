import { toHex } from '../../chain/hash.ts';
import { CHAINS, type ChainLetter, type LinearChain } from '../../chain/types.ts';
import { BlyanError } from '../../errors.ts';
import type { SyncContext, SyncPeer } from './context.ts';
import { acceptInOrder, fetchDag, fetchLinear, type PendingBlock } from './headerSync.ts';
import { payloadBytesNeeded, syncPayloads } from './payloadSync.ts';
import type { SyncStatus } from './progress.ts';
import { SyncView } from './syncView.ts';

export interface SyncResult {
  /** Blocks appended by this run. */
  readonly appended: number;
  /** True when this node holds everything its peers advertised (within the filter). */
  readonly complete: boolean;
  readonly status: SyncStatus;
}

const LINEAR: readonly LinearChain[] = ['A', 'C', 'D'];

/**
 * One sync run: rounds of (status from every peer → a window of headers per chain, verified → payload tiles
 * → appends) until a round brings nothing new. Stops short, with `complete: false` and the reason in the
 * status, when peers cannot serve what they advertised; what was appended stays, and finished tiles of
 * unfinished payloads stay in the side database for the next run.
 */
export async function runSync(ctx: SyncContext): Promise<SyncResult> {
  ctx.progress.start();
  ctx.state.prune();
  const cursors = new Map<string, number>();
  const aside = new Map<string, PendingBlock>();
  let carried: PendingBlock[] = [];
  let appended = 0;
  let peers: SyncPeer[] = [];
  let failure: { code: string; message: string } | undefined;
  try {
    peers = await ctx.refreshPeers();
    if (peers.length === 0) throw new BlyanError('P2P_NO_PEERS', 'no connected peer on this network to sync from');
    for (;;) {
      ctx.store.refreshHeads();
      const view = new SyncView(ctx.store);
      reportHeights(ctx, peers);
      const pending: PendingBlock[] = [];
      for (const chain of LINEAR) pending.push(...(await fetchLinear(ctx, chain, peers, view)));
      pending.push(...(await fetchDag(ctx, peers, view, cursors, aside)));
      const fresh = new Set(pending.map((p) => toHex(p.block.id)));
      for (const p of carried) if (!ctx.store.has(p.block.id) && !fresh.has(toHex(p.block.id))) pending.push(p);
      const { accepted, waiting } = acceptInOrder(ctx, pending, aside, view);
      carried = waiting;
      if (accepted.length === 0) break;
      ctx.progress.addExpected(payloadBytesNeeded(ctx, accepted));
      const r = await syncPayloads(ctx, accepted);
      appended += r.appended;
      if (!r.complete) {
        blameLedgerRefusal(ctx, accepted, r.error);
        failure = r.error;
        break;
      }
      peers = await ctx.refreshPeers();
      if (peers.length === 0) break;
    }
  } catch (err) {
    failure = { code: err instanceof BlyanError ? err.code : 'ERROR', message: (err as Error).message };
  }
  ctx.store.refreshHeads();
  reportHeights(ctx, peers);
  const shortfall = failure ?? shortfallOf(ctx, peers);
  ctx.progress.finish(shortfall);
  return { appended, complete: shortfall === undefined, status: ctx.progress.status() };
}

/**
 * The store refused a chain-C block for a ledger rule (src/ledger/blockGate.ts: the producer named on chain A, a
 * transaction that does not apply). Those rules are checked only at the append, so the block is the peer's fault
 * like any invalid record: it is penalised as bad data. Blocks are appended strictly in order and the append
 * stops at the refused one, so it is the first chain-C block of the round that the store does not hold.
 */
export function blameLedgerRefusal(ctx: SyncContext, accepted: readonly PendingBlock[], error: { code: string; message: string } | undefined): void {
  if (error === undefined || (error.code !== 'LEDGER_BLOCK_INVALID' && error.code !== 'LEDGER_NOT_PRODUCER')) return;
  const refused = accepted.find((p) => p.block.header.chain === 'C' && !ctx.store.has(p.block.id));
  if (refused === undefined) return;
  ctx.penalise(refused.from, 'bad-data', new BlyanError(error.code, error.message));
  ctx.onEvent({ type: 'rejected', peer: refused.from, code: error.code, message: error.message });
}

function reportHeights(ctx: SyncContext, peers: readonly SyncPeer[]): void {
  const local = {} as Record<ChainLetter, number>;
  const target = {} as Record<ChainLetter, number>;
  for (const c of CHAINS) {
    local[c] = ctx.store.height(c);
    target[c] = Math.max(0, ...peers.filter((p) => !ctx.isBanned(p.id)).map((p) => p.status.heads[c].n));
  }
  ctx.progress.setHeights(local, target, peers.length);
}

/** What the peers advertise that this node still lacks, if anything. */
function shortfallOf(ctx: SyncContext, peers: readonly SyncPeer[]): { code: string; message: string } | undefined {
  for (const p of peers) {
    if (ctx.isBanned(p.id)) continue;
    for (const c of LINEAR) {
      if (p.status.heads[c].n > ctx.store.height(c)) {
        return { code: 'P2P_SYNC_INCOMPLETE', message: `peer ${p.id.slice(-8)} has ${c} up to ${p.status.heads[c].n}; this node has ${ctx.store.height(c)}` };
      }
    }
    const b = p.status.heads.B.id;
    if (ctx.filter === undefined && b !== null && !ctx.store.has(b)) {
      return { code: 'P2P_SYNC_INCOMPLETE', message: `peer ${p.id.slice(-8)} has chain-B block ${toHex(b).slice(0, 16)}… that this node lacks` };
    }
  }
  return undefined;
}
