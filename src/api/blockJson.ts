import { formatAddress } from '../chain/address.ts';
import { toHex } from '../chain/hash.ts';
import type { Block } from '../chain/types.ts';

/** A block as the API shows it: the header with bytes as hex, plus id, signature and position. */
export interface BlockJson {
  hash: string;
  chain: string;
  index: number;
  seq: number | null;
  prev: string | null;
  deps: string[];
  type: string;
  expert: string | null;
  layer: number | null;
  payloadHash: string;
  payloadSize: number;
  tileRoot: string;
  time: number;
  nonce: string;
  difficulty: number;
  author: string;
  sig: string;
}

export function blockJson(block: Block, seq: number | undefined): BlockJson {
  const h = block.header;
  return {
    hash: toHex(block.id),
    chain: h.chain,
    index: h.index,
    seq: seq ?? null,
    prev: h.prev === null ? null : toHex(h.prev),
    deps: h.deps.map(toHex),
    type: h.type,
    expert: h.expert,
    layer: h.layer,
    payloadHash: toHex(h.payloadHash),
    payloadSize: h.payloadSize,
    tileRoot: toHex(h.tileRoot),
    time: h.time,
    nonce: toHex(h.nonce),
    difficulty: h.difficulty,
    author: formatAddress(h.author),
    sig: toHex(block.sig),
  };
}
