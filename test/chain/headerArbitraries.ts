/**
 * fast-check arbitraries for valid block headers (docs/block-encoding.md §1), shared by the encoding
 * property tests (encoding.property.test.ts, headerDecode.property.test.ts).
 */
import fc from 'fast-check';
import { sortDeps } from '../../src/chain/block.ts';
import { toHex } from '../../src/chain/hash.ts';
import { MAX_DEPS, MAX_LAYER, MAX_NAME_LENGTH, MAX_TIME_MS } from '../../src/chain/limits.ts';
import { BLOCK_TYPES, type BlockHeader, type ChainLetter } from '../../src/chain/types.ts';

/** Plain JSON view of a header (bytes as hex) for deep comparison. */
export function view(h: BlockHeader): Record<string, unknown> {
  return JSON.parse(JSON.stringify(h, (_k, x: unknown) => (x instanceof Uint8Array ? `0x${toHex(x)}` : x))) as Record<string, unknown>;
}

export const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
export const uint = fc.oneof(fc.nat({ max: 30 }), fc.nat(), fc.maxSafeNat());
export const layerArb = fc.oneof(fc.nat({ max: 40 }), fc.nat({ max: MAX_LAYER }));
export const depsArb = (minLength: number) =>
  fc.uniqueArray(bytes(32), { minLength, maxLength: MAX_DEPS, selector: (d) => toHex(d) }).map((d) => sortDeps(d));

/** A component name and the layer rule S4 derives from it. */
export const componentArb: fc.Arbitrary<{ type: BlockHeader['type']; expert: string; layer: number | null }> = fc.oneof(
  layerArb.map((l) => ({ type: 'router' as const, expert: `layer${l}.router`, layer: l })),
  fc.tuple(layerArb, fc.nat({ max: 1000 })).map(([l, e]) => ({ type: 'expert' as const, expert: `layer${l}.expert${e}`, layer: l })),
  layerArb.map((l) => ({ type: 'expert' as const, expert: `layer${l}.shared`, layer: l })),
  fc
    .tuple(
      fc.constantFrom('base', 'delta', 'snapshot', 'expert', 'router'),
      fc.stringMatching(new RegExp(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,${MAX_NAME_LENGTH - 1}}$`)),
    )
    .map(([type, expert]) => {
      const m = /^layer(\d+)\.(.+)$/.exec(expert);
      return { type: type as BlockHeader['type'], expert, layer: m === null ? null : Number(m[1]) };
    })
    .filter(({ type, expert, layer }) => {
      if (layer !== null && layer > MAX_LAYER) return false;
      if (type === 'router') return /^layer\d+\.router$/.test(expert);
      if (type === 'expert') return /^layer\d+\.(expert\d+|shared)$/.test(expert);
      return true;
    }),
);

export const commonArb = fc.record({
  payloadHash: bytes(32),
  payloadSize: uint,
  tileRoot: bytes(32),
  time: fc.integer({ min: 0, max: MAX_TIME_MS }),
  nonce: bytes(8),
  difficulty: fc.nat({ max: 255 }),
  author: bytes(20),
});

export const dagHeaderArb: fc.Arbitrary<BlockHeader> = fc
  .tuple(componentArb, uint, depsArb(1), commonArb)
  .map(([c, index, deps, rest]) => ({ v: 1, chain: 'B', index, prev: null, deps, ...c, ...rest }));

export const linearHeaderArb: fc.Arbitrary<BlockHeader> = fc
  .tuple(fc.constantFrom<ChainLetter>('A', 'C', 'D'), uint, bytes(32), depsArb(0), commonArb, fc.nat())
  .map(([chain, index, prev, deps, rest, pick]) => {
    const types = BLOCK_TYPES[chain].filter((t) => t !== 'genesis');
    const type = index === 0 ? 'genesis' : (types[pick % types.length] as BlockHeader['type']);
    return { v: 1, chain, index, prev: index === 0 ? null : prev, deps, type, expert: null, layer: null, ...rest };
  });

export const headerArb = fc.oneof(dagHeaderArb, linearHeaderArb);
