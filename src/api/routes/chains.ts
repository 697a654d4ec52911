import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { toHex } from '../../chain/hash.ts';
import { CHAINS } from '../../chain/types.ts';
import { blockJson } from '../blockJson.ts';
import type { ApiDeps } from '../deps.ts';
import { parse } from '../validate.ts';
import { chainParam } from './params.ts';

export const MAX_BLOCKS_PER_PAGE = 500;

const BlocksQuery = z.object({
  from: z.coerce.number().int().min(0).max(0xffffffff).default(0),
  limit: z.coerce.number().int().min(1).max(MAX_BLOCKS_PER_PAGE).default(50),
});

export function chainRoutes(app: FastifyInstance, { store }: ApiDeps): void {
  // Only chain data, nothing node-specific: two synced nodes give the same answer.
  app.get('/chains', async () =>
    CHAINS.map((chain) => {
      const head = store.headOf(chain);
      return { chain, height: store.height(chain), head: head === undefined ? null : toHex(head.id) };
    }),
  );

  app.get('/chains/:chain/blocks', async (req) => {
    const chain = chainParam((req.params as { chain?: unknown }).chain, 'chain');
    const q = parse(BlocksQuery, req.query, 'query');
    const blocks = [...store.iterate(chain, q.from, q.limit)].map((s) => blockJson(s.block, s.seq));
    const last = blocks.at(-1);
    return { chain, height: store.height(chain), blocks, next: last !== undefined && blocks.length === q.limit ? (last.seq ?? 0) + 1 : null };
  });
}
