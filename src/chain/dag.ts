import { BlyanError } from '../errors.ts';
import { equalBytes, fromHex, type Hash, toHex } from './hash.ts';
import type { Preset } from './presets.ts';
import type { Block, BlockHeader, LinearChain } from './types.ts';

/**
 * Contextual chain rules (docs/block-rules.md, L* and D*), as pure functions over a read-only view
 * of what is already accepted. The store, an archive import and a sync session each supply a view;
 * nothing here re-reads the chain, so validating a block costs O(deps).
 */
export interface ChainView {
  /** The header of an accepted block, on any chain. */
  header(id: Hash): BlockHeader | undefined;
  /** The newest block of a linear chain. */
  head(chain: LinearChain): { id: Hash; header: BlockHeader } | undefined;
}

/** Component versions that a delta or snapshot may build on (rule D4). */
const LINEAGE_TYPES = new Set(['base', 'router', 'expert', 'delta', 'snapshot']);

export function checkContext(block: Block, view: ChainView, preset: Preset): void {
  const h = block.header;
  // D0 — a block is accepted once.
  if (view.header(block.id) !== undefined) {
    throw new BlyanError('BLOCK_DUPLICATE', `block ${toHex(block.id)} is already in the chain`, { id: toHex(block.id) });
  }
  // D1 — every dep is an accepted block. Since ids are hashes of headers that name their deps, a block
  // can only name blocks that existed before it: the graph is acyclic by construction.
  for (const dep of h.deps) {
    if (view.header(dep) === undefined) {
      throw new BlyanError('BLOCK_UNKNOWN_DEP', `block depends on ${toHex(dep)}, which this node does not have`, { dep: toHex(dep) });
    }
  }
  if (h.chain === 'B') checkDagBlock(block, view);
  else checkLinearBlock(block, h.chain, view, preset);
}

function checkLinearBlock(block: Block, chain: LinearChain, view: ChainView, preset: Preset): void {
  const h = block.header;
  const head = view.head(chain);
  if (h.index === 0) {
    // L1 — a linear chain starts once, at index 0.
    if (head !== undefined) {
      throw new BlyanError('BLOCK_BAD_INDEX', `chain ${chain} already has a genesis block`);
    }
    if (chain === 'A') {
      // L2 — A:0 is the network's pinned genesis.
      if (toHex(block.id) !== preset.genesisId) {
        throw new BlyanError('BLOCK_WRONG_GENESIS', `genesis ${toHex(block.id)} is not the ${preset.network} genesis ${preset.genesisId}`, {
          got: toHex(block.id),
          want: preset.genesisId,
        });
      }
      if (h.deps.length !== 0) throw new BlyanError('BLOCK_BAD_DEPS', 'the genesis block has no deps');
      return;
    }
    // L3 — C:0 and D:0 hang off A:0 and are signed by the genesis authority.
    const genesisId = fromHex(preset.genesisId, 32);
    const genesisHeader = view.header(genesisId);
    const genesisA = genesisHeader === undefined ? undefined : { id: genesisId, header: genesisHeader };
    if (genesisA === undefined || h.deps.length !== 1 || !equalBytes(h.deps[0] as Hash, genesisA.id)) {
      throw new BlyanError('BLOCK_WRONG_GENESIS', `chain ${chain} genesis must depend on exactly the A genesis block`);
    }
    if (!equalBytes(h.author, genesisA.header.author)) {
      throw new BlyanError('BLOCK_WRONG_GENESIS', `chain ${chain} genesis must be signed by the genesis authority`);
    }
    return;
  }
  // L4 — index n > 0 extends the current head: index = head.index + 1 and prev = head id.
  if (head === undefined) {
    throw new BlyanError('BLOCK_BAD_PREV', `chain ${chain} has no genesis yet; block ${h.index} cannot extend it`);
  }
  if (h.index !== head.header.index + 1) {
    throw new BlyanError('BLOCK_BAD_INDEX', `chain ${chain} is at height ${head.header.index}; block claims index ${h.index}`, {
      index: h.index,
      height: head.header.index,
    });
  }
  if (h.prev === null || !equalBytes(h.prev, head.id)) {
    throw new BlyanError('BLOCK_BAD_PREV', `block ${chain}:${h.index} does not extend the current head ${toHex(head.id)}`);
  }
  // L5 — time never goes backwards along a linear chain.
  if (h.time < head.header.time) {
    throw new BlyanError('BLOCK_BAD_TIME', `block time is earlier than its predecessor's`);
  }
}

/** The model block (chain A, type "model") a chain-B block belongs to (rule D2). */
export function modelOf(h: BlockHeader, view: ChainView): Hash {
  const models = h.deps.filter((d) => {
    const dh = view.header(d);
    return dh !== undefined && dh.chain === 'A' && dh.type === 'model';
  });
  if (models.length !== 1) {
    throw new BlyanError(
      'BLOCK_MISSING_MODEL_DEP',
      `a chain-B block must depend on exactly one model block on chain A (the meta block that defines its architecture); found ${models.length}`,
    );
  }
  return models[0] as Hash;
}

/** The earlier version of the same component among a block's deps, if any (rules D4, D5). */
export function baseVersionOf(h: BlockHeader, view: ChainView): Hash | undefined {
  const same = h.deps.filter((d) => {
    const dh = view.header(d);
    return dh !== undefined && dh.chain === 'B' && dh.expert === h.expert && LINEAGE_TYPES.has(dh.type);
  });
  if (same.length > 1) {
    throw new BlyanError('BLOCK_BAD_LINEAGE', `block depends on ${same.length} versions of ${h.expert}; at most one is allowed`);
  }
  return same[0];
}

function checkDagBlock(block: Block, view: ChainView): void {
  const h = block.header;
  const model = modelOf(h, view);
  // D3 — index is the DAG depth: 1 + the largest index among chain-B deps, or 0.
  let depth = 0;
  for (const d of h.deps) {
    const dh = view.header(d) as BlockHeader;
    if (dh.chain === 'B') depth = Math.max(depth, dh.index + 1);
  }
  if (h.index !== depth) {
    throw new BlyanError('BLOCK_BAD_INDEX', `chain-B block index must be its DAG depth ${depth}, not ${h.index}`);
  }
  const base = baseVersionOf(h, view);
  // D4 — a delta or snapshot names exactly the version of the same component it modifies.
  if ((h.type === 'delta' || h.type === 'snapshot') && base === undefined) {
    throw new BlyanError('BLOCK_BAD_LINEAGE', `a ${h.type} block must depend on the exact version of ${h.expert} it modifies`);
  }
  // D5 — that version belongs to the same model.
  if (base !== undefined) {
    const baseHeader = view.header(base) as BlockHeader;
    if (!equalBytes(modelOf(baseHeader, view), model)) {
      throw new BlyanError('BLOCK_BAD_LINEAGE', `block modifies ${h.expert} of another model`);
    }
  }
}

/** Parameter-index key of a chain-B block: model id ‖ component name. */
export function lineageKey(model: Hash, name: string): string {
  return `${toHex(model)}/${name}`;
}

/**
 * Orders a batch (an archive, a sync batch) so every block comes after its deps, or explains why it
 * cannot: a dep neither known nor in the batch (BLOCK_UNKNOWN_DEP) or deps that form a cycle (BLOCK_CYCLE).
 * Stable: a batch already in dependency order comes back in the same order (depth-first, iterative so a
 * long linear chain cannot overflow the stack).
 */
export function topoOrder<T extends { id: Hash; header: BlockHeader }>(batch: readonly T[], isKnown: (id: Hash) => boolean): T[] {
  const byId = new Map<string, T>();
  for (const b of batch) {
    const key = toHex(b.id);
    // D0 within a batch: a repeated block is refused, not silently merged (the store would keep the last
    // copy and drop the payload that came with the first).
    if (byId.has(key)) throw new BlyanError('BLOCK_DUPLICATE', `block ${key} appears twice in the batch`, { id: key });
    byId.set(key, b);
  }
  const inBatchDeps = new Map<string, string[]>();
  for (const b of batch) {
    const key = toHex(b.id);
    const deps: string[] = [];
    for (const dep of b.header.prev === null ? b.header.deps : [...b.header.deps, b.header.prev]) {
      const dk = toHex(dep);
      if (byId.has(dk)) deps.push(dk);
      else if (!isKnown(dep)) {
        throw new BlyanError('BLOCK_UNKNOWN_DEP', `block ${key} depends on ${dk}, which is neither in the batch nor known`, { block: key, dep: dk });
      }
    }
    inBatchDeps.set(key, deps);
  }
  const state = new Map<string, 1 | 2>(); // 1: on the current path, 2: emitted
  const out: T[] = [];
  for (const root of batch) {
    const rootKey = toHex(root.id);
    if (state.get(rootKey) === 2) continue;
    const stack: { key: string; next: number }[] = [{ key: rootKey, next: 0 }];
    state.set(rootKey, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { key: string; next: number };
      const deps = inBatchDeps.get(top.key) as string[];
      if (top.next < deps.length) {
        const dk = deps[top.next++] as string;
        const st = state.get(dk);
        if (st === 1) {
          const cycle = stack.slice(stack.findIndex((f) => f.key === dk)).map((f) => f.key);
          throw new BlyanError('BLOCK_CYCLE', `blocks ${cycle.slice(0, 3).join(', ')}${cycle.length > 3 ? ', …' : ''} depend on each other in a cycle`, { blocks: cycle });
        }
        if (st === undefined) {
          state.set(dk, 1);
          stack.push({ key: dk, next: 0 });
        }
        continue;
      }
      stack.pop();
      state.set(top.key, 2);
      out.push(byId.get(top.key) as T);
    }
  }
  return out;
}
