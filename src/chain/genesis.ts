import * as dagCbor from '@ipld/dag-cbor';
import { createBlock } from './block.ts';
import { sha256, toHex } from './hash.ts';
import { TILE_BYTES } from './limits.ts';
import type { Preset } from './presets.ts';
import type { Block } from './types.ts';

/**
 * The genesis authority key is PUBLIC on purpose: it is SHA-256 of a fixed string, so every node can
 * rebuild the exact genesis blocks and check them against the pinned id. It owns nothing. A:0 is pinned
 * by id (L2); C:0 and D:0 are unique because `init` writes them and L1 refuses any later index-0 block.
 */
export const GENESIS_PRIVATE_KEY = sha256(new TextEncoder().encode('blyan/genesis-authority/v1'));

export interface GenesisBlocks {
  /** Chain A index 0: the network's identity. Its id is the pinned genesis hash. */
  readonly a: { block: Block; payload: Uint8Array };
  /** Chain C and D index 0: depend on A:0, so the whole network hangs off one hash. */
  readonly c: { block: Block; payload: Uint8Array };
  readonly d: { block: Block; payload: Uint8Array };
}

/** Everything that decides block validity on this network, written into A:0's payload. */
export function genesisPayload(preset: Preset): Uint8Array {
  return dagCbor.encode({
    network: preset.network,
    chainId: preset.chainId,
    preset: preset.name,
    minDifficulty: preset.minDifficulty,
    maxPayloadBytes: preset.maxPayloadBytes,
    maxFutureMs: preset.maxFutureMs,
    tileBytes: TILE_BYTES,
    encoding: 'blyan-block/v1 dag-cbor sha2-256 secp256k1',
  });
}

export function buildGenesis(preset: Preset): GenesisBlocks {
  const aPayload = genesisPayload(preset);
  const a = createBlock(
    { chain: 'A', index: 0, prev: null, deps: [], type: 'genesis', time: preset.genesisTime },
    aPayload,
    GENESIS_PRIVATE_KEY,
    preset,
  );
  const sub = (chain: 'C' | 'D', purpose: string) => {
    const payload = dagCbor.encode({ chain, purpose });
    const block = createBlock(
      { chain, index: 0, prev: null, deps: [a.id], type: 'genesis', time: preset.genesisTime },
      payload,
      GENESIS_PRIVATE_KEY,
      preset,
    );
    return { block, payload };
  };
  return {
    a: { block: a, payload: aPayload },
    c: sub('C', 'BLY ledger'),
    d: sub('D', 'training datasets'),
  };
}

const cache = new Map<string, GenesisBlocks>();

/** Genesis blocks are deterministic; build them once per preset. */
export function genesisOf(preset: Preset): GenesisBlocks {
  let g = cache.get(preset.name);
  if (g === undefined) {
    g = buildGenesis(preset);
    cache.set(preset.name, g);
  }
  return g;
}

export function genesisIdHex(preset: Preset): string {
  return toHex(genesisOf(preset).a.block.id);
}
