import { verifyStandalone } from '../../chain/block.ts';
import { checkContext } from '../../chain/dag.ts';
import { decodeRecord } from '../../chain/encoding.ts';
import { equalBytes, type Hash, toHex } from '../../chain/hash.ts';
import type { Block, LinearChain } from '../../chain/types.ts';
import { BlyanError, isBlyanError } from '../../errors.ts';
import { MAX_HEADERS_PER_REQUEST, requestHeaders } from '../protocols/headers.ts';
import { penaltyFor, type SyncContext, type SyncFilter, type SyncPeer } from './context.ts';
import type { SyncView } from './syncView.ts';

/**
 * Headers first (docs/sync-protocol.md §7.1): fetch block records by position from several peers, and
 * check each one before anything else is asked for: the encoding (E*, S1–S4 in decodeRecord), then PoW,
 * signature, payload size and time (S5 size, S6–S8 in verifyStandalone), then, in dependency order, the
 * contextual rules (L*, D* in checkContext) against the store plus the headers already accepted this round.
 * A peer whose records break a rule is penalised as serving bad data (and so banned); the range is asked
 * of another peer.
 */
export interface PendingBlock {
  readonly block: Block;
  /** Peer that served the record (blamed if it turns out invalid). */
  readonly from: string;
}

/** Routed experts look like `layer3.expert7`; everything else in chain B is model-wide. */
const ROUTED_EXPERT = /^layer\d+\.expert\d+$/;

export function wanted(block: Block, filter: SyncFilter | undefined): boolean {
  if (filter === undefined || block.header.chain !== 'B') return true;
  const name = block.header.expert ?? '';
  return !ROUTED_EXPERT.test(name) || filter.experts.has(name);
}

function ranges(from: number, to: number): { from: number; count: number }[] {
  const out: { from: number; count: number }[] = [];
  for (let s = from; s < to; s += MAX_HEADERS_PER_REQUEST) out.push({ from: s, count: Math.min(MAX_HEADERS_PER_REQUEST, to - s) });
  return out;
}

/** Decodes and checks one record alone (rules E*, S*). Anything wrong is the serving peer's fault. */
function standalone(ctx: SyncContext, record: Uint8Array, now: number): Block {
  const block = decodeRecord(record);
  verifyStandalone(block, ctx.store.preset, { now });
  return block;
}

/**
 * Fetches the next window of a linear chain. Batches go to different peers in parallel; they are verified
 * in order, each record linked to the one before (prev = id of index − 1), the first to the view's head.
 */
export async function fetchLinear(ctx: SyncContext, chain: LinearChain, peers: readonly SyncPeer[], view: SyncView): Promise<PendingBlock[]> {
  const start = view.nextIndex(chain);
  const candidates = peers.filter((p) => p.status.heads[chain].n > start).sort((a, b) => b.status.heads[chain].n - a.status.heads[chain].n);
  const best = candidates[0];
  if (best === undefined) return [];
  const end = Math.min(best.status.heads[chain].n, start + ctx.tuning.headerWindow);
  const batches = ranges(start, end);
  const excluded = new Set<string>();
  const pick = (j: number, need: number): SyncPeer | undefined => {
    const ok = candidates.filter((p) => !excluded.has(p.id) && !ctx.isBanned(p.id) && p.status.heads[chain].n >= need);
    return ok.length === 0 ? undefined : ok[j % ok.length];
  };
  const fetchBatch = (j: number, peer: SyncPeer) => {
    const b = batches[j] as { from: number; count: number };
    ctx.onEvent({ type: 'headers', peer: peer.id, chain, from: b.from, count: b.count });
    return requestHeaders(ctx.libp2p, peer.peerId, { chain, from: b.from, count: b.count }, ctx.timeouts.headersMs);
  };
  // Prefetch every batch at once, spread over the peers; then verify strictly in order.
  const inflight = batches.map((b, j) => {
    const peer = pick(j, b.from + b.count);
    return peer === undefined ? undefined : { peer, records: fetchBatch(j, peer).catch((err: unknown) => err as Error) };
  });
  const out: PendingBlock[] = [];
  let prev: Hash | null = view.head(chain)?.id ?? null;
  const now = Date.now();
  for (let j = 0; j < batches.length; j++) {
    const b = batches[j] as { from: number; count: number };
    let attempt = inflight[j];
    let accepted: Block[] | undefined;
    while (attempt !== undefined && accepted === undefined) {
      const peer: SyncPeer = attempt.peer;
      try {
        const records = await attempt.records;
        if (records instanceof Error) throw records;
        if (records.length < b.count) {
          throw new BlyanError('P2P_REMOTE_ERROR', `peer claimed chain ${chain} up to ${peer.status.heads[chain].n} but served ${records.length} of ${b.count} records from ${b.from}`, { remote: 'NOT_FOUND' });
        }
        accepted = verifyLinearBatch(ctx, chain, records, b.from, prev, now);
        ctx.reward(peer.id);
      } catch (err) {
        const divergent = isBlyanError(err) && err.data['divergent'] === true;
        ctx.penalise(peer.id, divergent ? 'useless' : (penaltyFor(err) ?? 'useless'), err);
        excluded.add(peer.id);
        const next = pick(j, b.from + b.count);
        attempt = next === undefined ? undefined : { peer: next, records: fetchBatch(j, next).catch((e: unknown) => e as Error) };
      }
    }
    if (accepted === undefined) break;
    for (const block of accepted) out.push({ block, from: attempt?.peer.id ?? '' });
    prev = (accepted.at(-1) as Block).id;
  }
  return out;
}

function verifyLinearBatch(ctx: SyncContext, chain: LinearChain, records: readonly Uint8Array[], from: number, prev: Hash | null, now: number): Block[] {
  const out: Block[] = [];
  let link = prev;
  for (const [k, record] of records.entries()) {
    const block = standalone(ctx, record, now);
    const h = block.header;
    if (h.chain !== chain || h.index !== from + k) {
      throw new BlyanError('P2P_BAD_DATA', `asked for ${chain}:${from + k}, got ${h.chain}:${h.index}`);
    }
    const links = link === null ? h.prev === null : h.prev !== null && equalBytes(h.prev, link);
    if (!links) {
      // The first record not extending our head is a fork we cannot switch to, not proof of malice;
      // a break inside a batch is a chain that cannot exist.
      if (k === 0) throw new BlyanError('P2P_BAD_DATA', `${chain}:${h.index} does not extend this node's chain`, { divergent: true });
      throw new BlyanError('P2P_BAD_DATA', `${chain}:${h.index} does not link to ${chain}:${h.index - 1} in the same answer`);
    }
    link = block.id;
    out.push(block);
  }
  return out;
}

/**
 * Fetches chain-B records from the best peer, from the position this run reached with it. Positions are the
 * peer's arrival order, so records come in dependency order; ones already known are skipped, and ones the
 * filter does not want are kept aside in case a wanted block depends on them.
 */
export async function fetchDag(
  ctx: SyncContext,
  peers: readonly SyncPeer[],
  view: SyncView,
  cursors: Map<string, number>,
  aside: Map<string, PendingBlock>,
): Promise<PendingBlock[]> {
  const candidates = peers
    .filter((p) => {
      const h = p.status.heads.B;
      return h.n > (cursors.get(p.id) ?? 0) && h.id !== null && !view.has(h.id);
    })
    .sort((a, b) => b.status.heads.B.n - a.status.heads.B.n);
  const now = Date.now();
  for (const peer of candidates) {
    if (ctx.isBanned(peer.id)) continue;
    const from = cursors.get(peer.id) ?? 0;
    const end = Math.min(peer.status.heads.B.n, from + ctx.tuning.headerWindow);
    try {
      const answers = await Promise.all(
        ranges(from, end).map((b) => {
          ctx.onEvent({ type: 'headers', peer: peer.id, chain: 'B', from: b.from, count: b.count });
          return requestHeaders(ctx.libp2p, peer.peerId, { chain: 'B', from: b.from, count: b.count }, ctx.timeouts.headersMs);
        }),
      );
      const out: PendingBlock[] = [];
      const seen = new Set<string>();
      let n = 0;
      for (const records of answers) {
        for (const record of records) {
          n++;
          const block = standalone(ctx, record, now);
          if (block.header.chain !== 'B') throw new BlyanError('P2P_BAD_DATA', `asked for chain B, got a chain ${block.header.chain} block`);
          const key = toHex(block.id);
          if (seen.has(key)) throw new BlyanError('P2P_BAD_DATA', `block ${key} served twice in one chain-B sequence`);
          seen.add(key);
          if (view.has(block.id)) continue;
          if (wanted(block, ctx.filter)) out.push({ block, from: peer.id });
          else aside.set(key, { block, from: peer.id });
        }
      }
      if (n < end - from) {
        throw new BlyanError('P2P_REMOTE_ERROR', `peer claimed ${peer.status.heads.B.n} chain-B blocks but served ${from + n}`, { remote: 'NOT_FOUND' });
      }
      cursors.set(peer.id, end);
      ctx.reward(peer.id);
      return out;
    } catch (err) {
      ctx.penalise(peer.id, penaltyFor(err) ?? 'useless', err);
    }
  }
  return [];
}

/**
 * Puts the round's headers in dependency order and applies the contextual rules; returns the accepted blocks
 * (in an order the store can append them) and keeps the view in step. A block whose deps are not available
 * yet waits for a later round; one that breaks a rule costs its peer.
 */
export function acceptInOrder(ctx: SyncContext, pending: readonly PendingBlock[], aside: Map<string, PendingBlock>, view: SyncView): { accepted: PendingBlock[]; waiting: PendingBlock[] } {
  const byId = new Map<string, PendingBlock>();
  for (const p of pending) byId.set(toHex(p.block.id), p);
  const state = new Map<string, 'ok' | 'missing' | 'visiting'>();
  const order: PendingBlock[] = [];
  // Depth-first over deps and prev, iterative, so a long chain cannot overflow the stack.
  const resolve = (rootKey: string): boolean => {
    const stack: { key: string; deps: string[]; i: number }[] = [];
    const enter = (key: string): boolean => {
      const p = byId.get(key) ?? aside.get(key);
      if (p === undefined) return false;
      if (!byId.has(key)) byId.set(key, p);
      const h = p.block.header;
      const deps = (h.prev === null ? h.deps : [...h.deps, h.prev]).map(toHex);
      state.set(key, 'visiting');
      stack.push({ key, deps, i: 0 });
      return true;
    };
    if (!enter(rootKey)) return false;
    let failed = false;
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { key: string; deps: string[]; i: number };
      if (!failed && top.i < top.deps.length) {
        const dk = top.deps[top.i++] as string;
        const st = state.get(dk);
        if (st === 'ok' || (st === undefined && view.store.has(Buffer.from(dk, 'hex')))) continue;
        if (st === 'missing' || st === 'visiting') {
          failed = true;
          continue;
        }
        if (!enter(dk)) {
          state.set(dk, 'missing');
          failed = true;
        }
        continue;
      }
      stack.pop();
      if (failed) state.set(top.key, 'missing');
      else {
        state.set(top.key, 'ok');
        order.push(byId.get(top.key) as PendingBlock);
      }
    }
    return !failed;
  };
  for (const p of pending) {
    const key = toHex(p.block.id);
    if (state.get(key) === undefined) resolve(key);
  }
  const waiting = pending.filter((p) => state.get(toHex(p.block.id)) !== 'ok');
  const accepted: PendingBlock[] = [];
  const rejected = new Set<string>();
  for (const p of order) {
    const key = toHex(p.block.id);
    const h = p.block.header;
    if ([...h.deps, ...(h.prev === null ? [] : [h.prev])].some((d) => rejected.has(toHex(d)))) {
      rejected.add(key);
      continue;
    }
    try {
      checkContext(p.block, view, ctx.store.preset);
    } catch (err) {
      rejected.add(key);
      if (isBlyanError(err, 'BLOCK_DUPLICATE')) continue;
      ctx.penalise(p.from, 'bad-data', err);
      ctx.onEvent({ type: 'rejected', peer: p.from, code: isBlyanError(err) ? err.code : 'ERROR', message: (err as Error).message });
      continue;
    }
    view.add(p.block);
    aside.delete(key);
    accepted.push(p);
  }
  return { accepted, waiting };
}
