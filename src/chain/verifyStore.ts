import { BlyanError } from '../errors.ts';
import { checkPayload, verifyStandalone } from './block.ts';
import { type ChainView, checkContext, lineageKey, modelOf, topoOrder } from './dag.ts';
import { equalBytes, type Hash, toHex } from './hash.ts';
import type { BlockStore } from './store.ts';
import { type Block, type BlockHeader, CHAINS, type ChainLetter, type LinearChain } from './types.ts';

export interface VerifyReport {
  readonly blocks: number;
  readonly payloadBytes: number;
  readonly perChain: Record<ChainLetter, number>;
}

export type VerifyProgress = (done: number, total: number, bytes: number) => void;

/**
 * Re-verifies a whole store as if every block arrived anew, in dependency order: encoding, PoW,
 * signature, payload hash and tiles, every contextual rule, and the indexes (sequence and parameter
 * index) against what replaying the blocks produces. Throws the first failure, naming the block.
 */
export function verifyStore(store: BlockStore, opts: { payloads?: boolean; onProgress?: VerifyProgress } = {}): VerifyReport {
  const checkPayloads = opts.payloads ?? true;
  const all: { id: Hash; header: BlockHeader; block: Block; seq: number }[] = [];
  const perChain = { A: 0, B: 0, C: 0, D: 0 } as Record<ChainLetter, number>;
  for (const chain of CHAINS) {
    let expectedSeq = 0;
    for (const { block, seq } of store.iterate(chain)) {
      if (seq !== expectedSeq) throw new BlyanError('STORE_CORRUPT', `chain ${chain} has a gap at position ${expectedSeq}`);
      expectedSeq++;
      if (block.header.chain !== chain) {
        throw blockError(block, 'STORE_CORRUPT', `is indexed under chain ${chain} but belongs to chain ${block.header.chain}`);
      }
      if (store.positionOf(block.id) !== seq) {
        throw blockError(block, 'STORE_CORRUPT', `has a position index that disagrees with chain ${chain}'s sequence`);
      }
      if (chain !== 'B' && block.header.index !== seq) {
        throw blockError(block, 'STORE_CORRUPT', `is stored at position ${seq} of chain ${chain}`);
      }
      all.push({ id: block.id, header: block.header, block, seq });
      perChain[chain]++;
    }
  }
  const ordered = topoOrder(all, () => false);
  const replay = new ReplayView();
  const lineage = new Map<string, Hash[]>();
  let payloadBytes = 0;
  for (const [i, { block }] of ordered.entries()) {
    try {
      verifyStandalone(block, store.preset);
      if (checkPayloads) {
        const payload = block.header.payloadSize === 0 ? new Uint8Array(0) : store.getPayload(block.header.payloadHash);
        if (payload === undefined) {
          throw new BlyanError('BLOCK_PAYLOAD_MISSING', `its ${block.header.payloadSize}-byte payload is missing from the store`);
        }
        checkPayload(block.header, payload, store.preset);
        payloadBytes += payload.byteLength;
      }
      checkContext(block, replay, store.preset);
    } catch (err) {
      if (err instanceof BlyanError) throw blockError(block, err.code, `failed: ${err.message}`, err);
      throw err;
    }
    replay.add(block);
    if (block.header.chain === 'B' && block.header.expert !== null) {
      const key = lineageKey(modelOf(block.header, replay), block.header.expert);
      const list = lineage.get(key) ?? [];
      list.push(block.id);
      lineage.set(key, list);
    }
    opts.onProgress?.(i + 1, ordered.length, payloadBytes);
  }
  // The parameter index must be exactly what the blocks imply (same versions, arrival order).
  let indexed = 0;
  for (const entry of store.parameterIndex()) {
    indexed++;
    const [model, name] = [entry.model, entry.name];
    const expected = lineage.get(`${model}/${name}`);
    const stored = store.lineage(Buffer.from(model, 'hex'), name);
    if (expected === undefined || expected.length !== stored.length || !expected.every((id, k) => equalBytes(id, stored[k] as Hash))) {
      throw new BlyanError('STORE_CORRUPT', `parameter index entry ${name} of model ${model.slice(0, 12)}… does not match the blocks`);
    }
  }
  if (indexed !== lineage.size) throw new BlyanError('STORE_CORRUPT', 'parameter index is missing components that blocks define');
  return { blocks: ordered.length, payloadBytes, perChain };
}

function blockError(block: Block, code: BlyanError['code'], what: string, cause?: unknown): BlyanError {
  const label = block.header.chain === 'B' ? `B ${block.header.type} ${block.header.expert ?? ''}` : `${block.header.chain}:${block.header.index}`;
  return new BlyanError(code, `block ${label} (${toHex(block.id)}) ${what}`, { block: toHex(block.id), chain: block.header.chain, index: block.header.index }, cause === undefined ? undefined : { cause });
}

/** The blocks verified so far, as a chain view: a replay from genesis. */
class ReplayView implements ChainView {
  private readonly headers = new Map<string, BlockHeader>();
  private readonly heads = new Map<LinearChain, { id: Hash; header: BlockHeader }>();

  header(id: Hash): BlockHeader | undefined {
    return this.headers.get(toHex(id));
  }

  head(chain: LinearChain): { id: Hash; header: BlockHeader } | undefined {
    return this.heads.get(chain);
  }

  add(block: Block): void {
    this.headers.set(toHex(block.id), block.header);
    if (block.header.chain !== 'B') this.heads.set(block.header.chain, { id: block.id, header: block.header });
  }
}
