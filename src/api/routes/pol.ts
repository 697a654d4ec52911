import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { polDeltas } from '../../node/polDeltas.ts';
import type { ApiDeps } from '../deps.ts';
import { parse } from '../validate.ts';

const DeltasQuery = z.strictObject({
  model: z.string().min(1).max(200).optional(),
  expert: z.string().regex(/^[A-Za-z0-9_.]{1,100}$/, 'must be a component name such as layer0.expert3').optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/** Proof-of-Learning outcomes: accepted deltas (from the chain) and refused ones (this node's record), newest first. */
export function polRoutes(app: FastifyInstance, { store, learning }: ApiDeps): void {
  app.get('/pol/deltas', async (req) => polDeltas(store, learning.rejections, parse(DeltasQuery, req.query, 'query')));
}
