import { toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import { CHAINS, type ChainLetter } from '../chain/types.ts';

const CHAIN_NAMES: Record<ChainLetter, string> = { A: 'meta', B: 'parameters', C: 'ledger', D: 'datasets' };

export interface ChainSummary {
  network: string;
  preset: string;
  chainId: number;
  genesis: string;
  dataDir: string;
  chains: { chain: ChainLetter; name: string; height: number; head: string | null }[];
}

export function chainSummary(store: BlockStore, dataDir: string): ChainSummary {
  return {
    network: store.preset.network,
    preset: store.preset.name,
    chainId: store.preset.chainId,
    genesis: store.preset.genesisId,
    dataDir,
    chains: CHAINS.map((chain) => {
      const head = store.headOf(chain);
      return { chain, name: CHAIN_NAMES[chain], height: store.height(chain), head: head === undefined ? null : toHex(head.id) };
    }),
  };
}

export function formatSummary(s: ChainSummary): string {
  const lines = [
    `network  ${s.network} (preset ${s.preset}, chain id ${s.chainId})`,
    `genesis  ${s.genesis}`,
    `data     ${s.dataDir}`,
    '',
    'chain  name        blocks  head',
  ];
  for (const c of s.chains) {
    lines.push(`${c.chain}      ${c.name.padEnd(10)}  ${String(c.height).padStart(6)}  ${c.head ?? '-'}`);
  }
  return lines.join('\n');
}
